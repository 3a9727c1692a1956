"""Stopping `rehearse swarm` at seeded random moments (Ctrl-C, Ctrl-C twice, SIGTERM, SIGHUP, SIGKILL):
the folder stays a valid run marked interrupted with the seconds played, no child process is left,
no answered request is lost, the terminal says why, and no secret sits beside the report."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from rehearse.observations import RunInfo, RunWriter, load_run, read_info
from rehearse.scenarios import load_scenario

# live runs (a backend and a load generator on the 2 cores) go one at a time: see pyproject
pytestmark = pytest.mark.xdist_group("live")

ROOT = Path(__file__).parents[1]
BOUND_S = 60
DURATION_S = 30  # never reached: every case stops the run well before
MOMENTS = random.Random(16)


def moment() -> float:
    """Seconds after the command starts: from during the backend's start to well into the load."""
    return round(MOMENTS.uniform(0.5, 7.0), 2)


CASES = {
    "ctrl-c": ([signal.SIGINT], moment()),
    "ctrl-c twice": ([signal.SIGINT, signal.SIGINT], moment()),
    "sigterm": ([signal.SIGTERM], moment()),
    "sighup": ([signal.SIGHUP], moment()),
}


def descendants(pid: int) -> set[int]:
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def alive(pids: set[int]) -> set[int]:
    left = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.add(pid)
        except psutil.NoSuchProcess:
            pass
    return left


def start_swarm(out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rehearse", "swarm", "--duration", f"{DURATION_S}s", "--users", "5",
         "--out", str(out)], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"})


def signal_at(proc: subprocess.Popen, signals: list[signal.Signals], at: float) -> set[int]:
    """Send the signals (0.5 s apart) `at` seconds after the start; every child PID seen meanwhile."""
    started, seen = time.monotonic(), set()
    for n, sig in enumerate(signals):
        while time.monotonic() < started + at + 0.5 * n:
            seen |= descendants(proc.pid)
            time.sleep(0.05)
        seen |= descendants(proc.pid)
        proc.send_signal(sig)
    return seen


def sent_by_locust(out: Path) -> int:
    """What Locust says it sent and got an answer to (0 if it was stopped before it played)."""
    log = out / "locust.log"
    said = re.findall(r"rehearse: local sent (\d+) requests", log.read_text()) if log.exists() else []
    return int(said[-1]) if said else 0


@pytest.mark.parametrize("case", CASES, ids=[f"{k} at {v[1]}s" for k, v in CASES.items()])
def test_a_stopped_swarm_leaves_a_valid_interrupted_folder_and_no_process(case, tmp_path):
    signals, at = CASES[case]
    out = tmp_path / "run"
    proc = start_swarm(out)
    try:
        children = signal_at(proc, signals, at)
        _, err = proc.communicate(timeout=BOUND_S)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"stopped by {signals[0].name}" in err  # the terminal says why
    assert not alive(children), "a child of the command outlived it"

    run = load_run(out)
    assert run.info.status == "interrupted"
    assert 0 <= run.info.extra["played_s"] <= run.info.extra["duration_s"] == DURATION_S
    assert f"stopped by {signals[0].name}" in run.info.extra["stop_reason"]
    assert len(run.requests) >= sent_by_locust(out)  # no answered request lost
    assert not (out / "parts").exists()  # merged

    private = out / "private"
    assert not list(out.glob("backend*")), "the backend's log and database go to private/"
    if (private / "backend.log").exists():
        token = re.search(r"ops token\s+(\S+)", (private / "backend.log").read_text())
        if token:
            for path in out.rglob("*"):
                if path.is_file() and private not in path.parents:
                    assert token.group(1).encode() not in path.read_bytes(), path


def test_killing_the_command_takes_its_children_with_it(tmp_path):
    out = tmp_path / "run"
    proc = start_swarm(out)
    try:
        children = signal_at(proc, [signal.SIGKILL], moment())
        proc.wait(timeout=BOUND_S)
        deadline = time.monotonic() + BOUND_S
        while alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.kill()
    assert not alive(children)
    # Locust saved the run when its parent died, or it had not started: never left "running".
    assert read_info(out).status in ("interrupted", "incomplete")


def test_a_run_whose_writer_died_reads_as_incomplete(tmp_path):
    info = RunInfo.start(load_scenario(), engine="swarm", seed=1)
    code = ("import os, sys, pickle; from rehearse.observations import RunWriter;"
            "RunWriter(sys.argv[1], pickle.loads(bytes.fromhex(sys.argv[2]))); os._exit(9)")
    import pickle

    subprocess.run([sys.executable, "-c", code, str(tmp_path), pickle.dumps(info).hex()], check=False,
                   timeout=BOUND_S)
    assert read_info(tmp_path).status == "incomplete"
    with RunWriter(tmp_path / "alive", info):  # this process is alive: still running
        assert read_info(tmp_path / "alive").status == "running"
    assert read_info(tmp_path / "alive").status == "finished"


def parts_written(out: Path, timeout: float = BOUND_S) -> None:
    """Wait (polling the folder, not the clock) until the run has written requests to disk."""
    deadline = time.monotonic() + timeout
    while not list((out / "parts").glob("requests-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((out / "parts").glob("requests-*")), "the run wrote no requests"


def gone_within(pids: set[int], seconds: float) -> float:
    """Seconds until every pid is gone (at most `seconds`)."""
    started = time.monotonic()
    while alive(pids) and time.monotonic() - started < seconds:
        time.sleep(0.02)
    return time.monotonic() - started


def test_the_harness_dying_mid_swarm_is_never_blamed_on_the_target(tmp_path):
    out = tmp_path / "run"
    proc = start_swarm(out)
    try:
        parts_written(out)
        children = descendants(proc.pid)
        proc.kill()  # kill -9: the command dies; its backend and load process get SIGTERM
        proc.wait(timeout=BOUND_S)
        took = gone_within(children, BOUND_S)
    finally:
        proc.kill()
    assert not alive(children)
    assert took < 5, f"the load process outlived its parent by {took:.1f} s"
    run = load_run(out)
    assert run.info.status in ("interrupted", "incomplete")
    q = run.requests
    blamed = q[(q["status"] == 0) & ~q["refused"] & (q["error"] != "unanswered")]
    assert blamed.empty, blamed[["t", "action", "error"]].to_string()


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/bin/mount").exists(), reason="mounting a small filesystem needs root")
def test_a_disk_that_fills_mid_run_stops_it_at_once_keeping_what_was_written(tmp_path, start_backend):
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with start_backend() as backend:
            out = small / "run"
            proc = subprocess.Popen(
                [sys.executable, "-m", "rehearse", "swarm", "--host", backend.url, "--ops-token",
                 backend.running.backend.ops_token, "--duration", "30s", "--users", "10", "--out", str(out)],
                cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "300"})
            try:
                parts_written(out)
                with open(small / "filler", "wb") as filler:  # the disk fills
                    try:
                        while True:
                            filler.write(b"\0" * 65536)
                            filler.flush()
                    except OSError:
                        pass
                filled = time.monotonic()
                _, err = proc.communicate(timeout=BOUND_S)
                took = time.monotonic() - filled
            finally:
                proc.kill()
        (small / "filler").unlink()
        assert proc.returncode == 4, err
        assert took < 15, f"the run went on {took:.0f} s after the disk filled"
        assert "Traceback" not in err
        assert "No space left on device" in err and str(out) in err  # why, and where the data is
        run = load_run(out)
        assert run.info.status == "interrupted"
        assert "could not save the run's rows" in run.info.extra["stop_reason"]
        assert len(run.requests) > 0
    finally:
        subprocess.run(["umount", str(small)])


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_plain_locust_in_web_ui_mode_stops_cleanly_on_a_signal(sig, tmp_path, start_backend):
    import httpx

    out, port = tmp_path / "run", _free_port()
    with start_backend() as backend:
        log = open(tmp_path / "locust.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--host", backend.url,
             "--ops-token", backend.running.backend.ops_token, "--run-dir", str(out), "--web-host", "127.0.0.1",
             "--web-port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + BOUND_S
            while time.monotonic() < deadline:
                try:
                    httpx.post(f"http://127.0.0.1:{port}/swarm", data={"user_count": 20, "spawn_rate": 10,
                                                                     "host": backend.url}, timeout=2)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            parts_written(out)
            proc.send_signal(sig)
            took = gone_within({proc.pid}, BOUND_S)
        finally:
            proc.kill()
            log.close()
    text = (tmp_path / "locust.log").read_text()
    assert took < 5, f"Locust went on {took:.1f} s after {sig.name}"
    assert "Traceback" not in text and "is closed" not in text, text[-2000:]
    info = read_info(out)
    assert info.status == "interrupted" and info.extra["stop_reason"] == f"stopped by {sig.name}"
