"""`rehearse swarm` behind the CLI: start what is needed, run Locust processes, gather the run.

With no host, the reference backend starts on a free loopback port, its campaign clock at the
window's start and running `compress` times faster, and stops afterwards. Locust runs as
real processes on `swarm/locustfile.py` (the file QA runs by hand): one local process, or a
master and N workers writing into one run folder, merged at the end. Nothing here prints:
progress goes to a callback.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx

from rehearse.observations import consolidate, read_info
from rehearse.scenarios import RehearseError, Scenario
from rehearse.swarm.runtime import default_run_dir
from rehearse.swarm.safety import check_host
from rehearse.swarm.settings import SwarmSettings
from rehearse.swarm.shape import Plan

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_GRACE_S = 20.0


@dataclass
class SwarmRequest:
    settings: SwarmSettings
    host: str | None = None
    faults: tuple[str, ...] = ()
    workers: int = 0
    allow_remote: bool = False
    otp_secret: str = ""  # for a drill's top-up (read from the auto-started backend's banner)


@dataclass
class SwarmResult:
    run_dir: Path
    status: str
    host: str
    plan: Plan
    exit_code: int
    logs: list[Path] = field(default_factory=list)


class _Processes:
    """Child processes, stopped in reverse order however the run ends."""

    def __init__(self) -> None:
        self.items: list[subprocess.Popen] = []

    def start(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
        handle = open(log, "w", encoding="utf-8")
        proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        handle.close()
        self.items.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, grace: float = SHUTDOWN_GRACE_S,
             how: signal.Signals = signal.SIGTERM) -> None:
        """Ask a child to stop (Locust takes SIGINT as Ctrl-C and saves what it has), then insist."""
        if proc.poll() is None:
            proc.send_signal(how)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self.items):
            self.stop(proc)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    hint = f"; see {log}" if log else ""
    raise RehearseError(f"{what} did not happen within {timeout:g} s{hint}")


def start_reference_backend(procs: _Processes, request: SwarmRequest, plan: Plan, run_dir: Path) -> tuple[str, str]:
    """Start `rehearse backend` for the run; (url, ops token)."""
    log = run_dir / "backend.log"
    argv = [sys.executable, "-m", "rehearse", "backend", "--port", "0", "--reset",
            "--db", str(run_dir / "backend.sqlite3"), f"--at={plan.window.start!r}",
            "--speed", repr(plan.compress)]
    if request.settings.scenario_path:
        argv.insert(4, str(request.settings.scenario_path))
    for override in request.settings.overrides:
        argv += ["--set", override]
    for fault in request.faults:
        argv += ["--fault", fault]
    proc = procs.start(argv, log, env={**os.environ, "COLUMNS": "300"})
    found: dict[str, str] = {}

    def banner() -> bool:
        if proc.poll() is not None:
            raise RehearseError(f"the reference backend exited at start: {log.read_text().strip()[-300:]}")
        text = log.read_text()
        url = re.search(r"http://127\.0\.0\.1:\d+", text)
        token = re.search(r"ops token\s+(\S+)", text)
        secret = re.search(r"2FA secret\s+(\S+)", text)
        if url and token:
            found.update(url=url.group(0), token=token.group(1), secret=secret.group(1) if secret else "")
            return True
        return False

    _wait_for(banner, STARTUP_TIMEOUT_S, "the reference backend's start", log)

    def healthy() -> bool:
        try:
            return httpx.get(f"{found['url']}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    _wait_for(healthy, STARTUP_TIMEOUT_S, "the reference backend's first answer", log)
    request.otp_secret = request.otp_secret or found["secret"]
    return found["url"], found["token"]


def locust_argv(request: SwarmRequest, plan: Plan, host: str, run_dir: Path) -> list[str]:
    """The Locust command line shared by every process of the run."""
    s = request.settings
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host,
            "--run-time", f"{math.ceil(plan.duration_s) + 10}s", "--stop-timeout", "1",
            "--window", plan.window_name, "--peak-users", str(plan.peak_users),
            "--scale", f"1:{plan.scale:g}", "--compress", repr(plan.compress),
            "--rehearse-duration", f"{plan.duration_s!r}s", "--run-dir", str(run_dir),
            "--csv", str(run_dir / "locust")]
    if s.scenario_path:
        argv += ["--scenario", str(s.scenario_path)]
    for override in s.overrides:
        argv += ["--set", override]
    if s.seed is not None:
        argv += ["--rehearse-seed", str(s.seed)]
    if request.allow_remote:
        argv.append("--allow-remote")
    if s.drill:
        argv += ["--drill", s.drill]
    if s.rehearsal.ban_at is not None:
        argv += ["--ban-at", f"{s.rehearsal.ban_at!r}s"]
    if s.rehearsal.race_at is not None:
        argv += ["--race-at", f"{s.rehearsal.race_at!r}s", "--racers", str(s.rehearsal.racers)]
    return argv


def run_swarm(request: SwarmRequest, on_progress: Callable[[dict], None] = lambda _: None,
              scenario: Scenario | None = None) -> SwarmResult:
    """Run the swarm to its end (or Ctrl-C) and leave one consolidated run folder."""
    settings = request.settings
    scenario = scenario or settings.load()
    plan = settings.plan(scenario)
    if request.host:
        check_host(request.host, request.allow_remote, scenario.target.allow_remote_hosts)
        if request.faults:
            raise RehearseError("--fault plants defects in the bundled reference backend; it cannot "
                                "be used with --host")
    run_dir = settings.run_dir or default_run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    procs = _Processes()
    interrupted = False
    try:
        if request.host:
            host, token = request.host.rstrip("/"), settings.ops_token or os.environ.get("REHEARSE_OPS_TOKEN", "")
        else:
            host, token = start_reference_backend(procs, request, plan, run_dir)
        env = {**os.environ, "REHEARSE_OPS_TOKEN": token, "REHEARSE_OTP_SECRET": request.otp_secret}
        argv = locust_argv(request, plan, host, run_dir)
        if request.workers > 0:
            port = _free_port()
            master = procs.start(argv + ["--master", "--expect-workers", str(request.workers),
                                         "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)],
                                 run_dir / "locust-master.log", env)
            workers = [procs.start(argv + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                                   run_dir / f"locust-worker-{n}.log", env) for n in range(request.workers)]
        else:
            master = procs.start(argv, run_dir / "locust.log", env)
            workers = []
        deadline = time.monotonic() + plan.duration_s + STARTUP_TIMEOUT_S + 30
        try:
            while master.poll() is None:
                if time.monotonic() > deadline:
                    interrupted = True
                    procs.stop(master, how=signal.SIGINT)
                    break
                progress = run_dir / "progress.json"
                if progress.exists():
                    try:
                        on_progress(json.loads(progress.read_text()))
                    except ValueError:
                        pass  # caught mid-replace; the next read gets it
                time.sleep(0.5)
        except KeyboardInterrupt:
            interrupted = True
            procs.stop(master, how=signal.SIGINT)
        for worker in workers:
            try:
                worker.wait(timeout=SHUTDOWN_GRACE_S)
            except subprocess.TimeoutExpired:
                procs.stop(worker)
        exit_code = master.returncode or 0
    finally:
        procs.stop_all()
    consolidate(run_dir)
    (run_dir / "progress.json").unlink(missing_ok=True)
    status = read_info(run_dir).status if (run_dir / "run.json").exists() else "interrupted"
    if interrupted or status == "running":
        status = "interrupted"
    logs = sorted(run_dir.glob("*.log"))
    return SwarmResult(run_dir=run_dir, status=status, host=host, plan=plan,
                       exit_code=130 if interrupted else exit_code, logs=logs)
