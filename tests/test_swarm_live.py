"""Swarm runs against the reference backend on 127.0.0.1: short, bounded, each ending by itself."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rehearse.cli.main import main
from rehearse.observations import load_run
from rehearse.reference_backend.app import Backend
from rehearse.reference_backend.clock import ManualClock
from rehearse.reference_backend.server import running_backend
from rehearse.scenarios import load_scenario
from rehearse.swarm.arrivals import schedule_for
from rehearse.swarm.settings import SwarmSettings

# live runs (a backend and a load generator on the 2 cores) go one at a time: see pyproject
pytestmark = pytest.mark.xdist_group("live")

ROOT = Path(__file__).parents[1]
BOUND_S = 60  # no swarm process in these tests may run longer


def rehearse(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rehearse", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=BOUND_S, env={**os.environ, "COLUMNS": "200"})


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rehearse", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "200"})


def wait_for_file(path: Path, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.1)


def fraud_paid(run_dir: Path) -> tuple[int, int]:
    """What scripts were paid: fen, and attempts paid."""
    q = load_run(run_dir).requests
    paid = q.loc[q["persona"] == "fraud_script", "payout_fen"]
    return int(paid.sum()), int((paid > 0).sum())


def test_swarm_writes_a_complete_run_folder(tmp_path):
    out = tmp_path / "run"
    done = rehearse("swarm", "--duration", "8s", "--out", str(out))
    assert done.returncode == 0, done.stderr
    run = load_run(out)
    q = run.requests
    assert run.info.status == "finished"
    assert (run.info.engine, run.info.scale, run.info.compress) == ("swarm", 100.0, 450.0)
    assert set(q["persona"]) >= {"normal", "sharer", "fraud_script", "preheat_browser", "invitee"}
    assert q.loc[q["action"] == "open_envelope", "payout_fen"].sum() > 0
    invitees = q[q["persona"] == "invitee"]
    assert (invitees["action"] == "visit_link").any()  # they arrived through share links
    fraud = q[q["persona"] == "fraud_script"]
    assert fraud["refused"].sum() > 0 and not (fraud["action"] == "open_page").any()
    assert len(run.gauges) >= 5 and run.gauges["budget_left_fen"].notna().all()
    # (the platform may ban domains on its own rule late in the window: those events come between)
    assert [k for k in run.events["kind"] if k != "ban"] == ["clock_start", "ledger_start", "ledger", "run_end",
                                                             "active_by_minute"]
    ledger = json.loads(run.events.loc[run.events["kind"] == "ledger_start", "detail"].iloc[0])
    assert ledger["paid_twice"] == 0 and set(ledger["pools"]) >= {"anhe", "grand", "invite"}
    assert "Personas" in done.stdout and f"run folder: {out}" in done.stderr


def test_fraud_is_paid_far_more_without_antifraud(tmp_path):
    healthy = rehearse("swarm", "--duration", "6s", "--users", "12", "--out", str(tmp_path / "healthy"))
    broken = rehearse("swarm", "--duration", "6s", "--users", "12", "--out", str(tmp_path / "broken"),
                      "--fault", "no-antifraud")
    assert healthy.returncode == broken.returncode == 0, healthy.stderr + broken.stderr
    (without, attempts), (with_, _) = fraud_paid(tmp_path / "broken"), fraud_paid(tmp_path / "healthy")
    # the amounts are the backend's random draws (85 to 170 yuan seen), the attempts paid are the
    # scripts' own plays (99 seen): judge the count, and the money against the healthy run's
    assert attempts >= 30, attempts
    assert without > 10 * with_, (without, with_)


def test_workers_merge_into_one_run_folder(tmp_path):
    out = tmp_path / "run"
    done = rehearse("swarm", "--duration", "6s", "--workers", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    sent = [int(n) for log in sorted(out.glob("locust-worker-*.log"))
            for n in re.findall(r"rehearse: worker sent (\d+) requests", log.read_text())]
    assert len(sent) == 2 and all(n > 0 for n in sent)
    q = load_run(out).requests
    answered = ~q["error"].isin(["link_banned", "unanswered"])  # refused by the platform, or cut off by the stop
    assert int(answered.sum()) == sum(sent)
    assert not list(out.glob("parts/*"))
    # the workers split the window's arrivals: together they played the run's schedule once
    scenario = load_scenario()
    expected = len(schedule_for(scenario, SwarmSettings(duration_s=6.0).plan(scenario), scenario.seed))
    started = q[q["persona"] != "invitee"].groupby("user_id")["t"].min()
    assert 0.8 * expected <= len(started) <= 1.05 * expected, (len(started), expected)


def test_a_cluster_with_a_run_folder_per_host_reads_as_one_run_once_the_parts_are_copied(tmp_path, scenario):
    """The README's cluster recipe on one machine: a master and two workers as if on three hosts,
    each with its own run folder; the workers' part files copied into the master's folder."""
    backend = Backend(scenario, tmp_path / "b.sqlite3", clock=ManualClock(0.0))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with running_backend(backend) as live:
        common = ["-f", "locustfile.py", "--host", live.url, "--steps", "20", "--step-duration", "8s"]
        env = {**os.environ, "REHEARSE_OPS_TOKEN": backend.ops_token}
        master = subprocess.Popen([sys.executable, "-m", "locust", *common, "--master", "--headless",
                                   "--expect-workers", "2", "--master-bind-host", "127.0.0.1",
                                   "--master-bind-port", str(port), "--run-dir", str(tmp_path / "master"),
                                   "--run-time", "30s"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        workers = [subprocess.Popen([sys.executable, "-m", "locust", *common, "--worker", "--master-host",
                                     "127.0.0.1", "--master-port", str(port), "--run-dir", str(tmp_path / f"w{n}")],
                                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for n in range(2)]
        try:
            _, err = master.communicate(timeout=BOUND_S)
            for worker in workers:
                worker.wait(timeout=BOUND_S)
        finally:
            for proc in (master, *workers):
                if proc.poll() is None:
                    proc.kill()
    assert master.returncode == 0, err[-2000:]
    for n in range(2):
        for part in (tmp_path / f"w{n}" / "parts").glob("*"):
            shutil.copy(part, tmp_path / "master" / "parts" / part.name)
    run = load_run(tmp_path / "master")
    assert run.info.status == "finished"
    workers_seen = {key.split("/")[0] for key in run.requests["user_id"]}
    assert len(workers_seen) == 2  # rows of both workers, keys apart
    assert run.gauges["active_users"].max() >= 18  # the master counted both workers' participants


def test_plain_locust_headless_works_too(tmp_path, scenario):
    backend = Backend(scenario, tmp_path / "b.sqlite3", clock=ManualClock(-12345.0))  # not the window start
    with running_backend(backend) as live:
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", "locustfile.py", "--headless", "--host", live.url,
             "--rehearse-duration", "5s", "--max-slots", "40", "--run-dir", str(tmp_path / "run"),
             "--run-time", "20s"],
            cwd=ROOT, capture_output=True, text=True, timeout=BOUND_S,
            env={**os.environ, "REHEARSE_OPS_TOKEN": backend.ops_token})
        assert done.returncode == 0, done.stderr[-2000:]
        assert backend.service.now() == 0.0  # the run set the backend's clock to the window start
    run = load_run(tmp_path / "run")
    assert run.info.status == "finished" and len(run.requests) > 100
    assert "ParticipantSlot" in done.stderr  # Locust users are slots the arrivals fill


def test_non_loopback_targets_are_refused_before_any_traffic(tmp_path, capsys):
    for extra in ([], ["--allow-remote"]):
        with pytest.raises(SystemExit) as exited:
            main(["swarm", "--host", "http://192.0.2.10:8700", "--out", str(tmp_path / "run"), *extra])
        assert exited.value.code == 2
        assert "192.0.2.10" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_ctrl_c_keeps_what_was_measured(tmp_path):
    out = tmp_path / "run"
    proc = start("swarm", "--duration", "40s", "--users", "8", "--out", str(out))
    try:
        wait_for_file(out / "progress.json", proc)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=BOUND_S)
    finally:
        proc.kill()
    assert proc.returncode == 130
    run = load_run(out)
    assert run.info.status == "interrupted" and len(run.requests) > 0


def test_a_target_that_dies_mid_run_ends_it_as_interrupted(tmp_path):
    backend = start("backend", "--port", "0", "--db", str(tmp_path / "b.sqlite3"))
    try:
        banner = backend.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", banner).group(0)
        token = re.search(r"ops token\s+(\S+)", "".join(backend.stderr.readline() for _ in range(3))).group(1)
        out = tmp_path / "run"
        swarm = start("swarm", "--host", url, "--ops-token", token, "--duration", "40s", "--users", "8",
                      "--out", str(out))
        try:
            wait_for_file(out / "progress.json", swarm)
            backend.kill()
            swarm.wait(timeout=BOUND_S)
        finally:
            swarm.kill()
    finally:
        backend.kill()
    run = load_run(out)
    assert run.info.status == "interrupted"
    assert "target_down" in set(run.events["kind"])
    assert len(run.requests) > 0
