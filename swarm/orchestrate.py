"""`rehearse swarm` behind the CLI: start what is needed, run Locust processes, gather the run.

With no host, the reference backend starts on a free loopback port, its campaign clock at the
window's start and running `compress` times faster, and stops afterwards. Locust runs as
real processes on `swarm/locustfile.py` (the file QA runs by hand): one local process, or a
master and N workers writing into one run folder, merged at the end. Nothing here prints:
progress goes to a callback.

The run folder says how the run ended, whatever ends it: run.json is written before anything
starts ("running"), Locust replaces it when it closes ("finished", or "interrupted" with the wall
seconds played), and this module marks it "interrupted" if Locust could not. A stop signal
(SIGINT, SIGTERM, SIGHUP) stops Locust first (it saves what it measured), then the backend.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import httpx

from rehearse.observations import layout
from rehearse.observations import ObservationError, RunInfo, consolidate, load_run, read_info, write_info
from rehearse.observations.claim import check_unused, claimed
from rehearse.observations.schema import utc_now
from rehearse.reference_backend.ready import Ready
from rehearse.scenarios import RehearseError, Scenario, UsageError
from rehearse.scenarios.errors import Interrupted, RunInterrupted
from rehearse.swarm.processes import Processes, StopSignals, Stopped, wait_for
from rehearse.swarm.runtime import default_run_dir, run_facts
from rehearse.client.safety import check_host, check_reachable
from rehearse.swarm.status import STATUS_FILE, SwarmStatus
from rehearse.swarm.settings import SwarmSettings
from rehearse.swarm.shape import Plan

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_GRACE_S = 20.0
PRIVATE = "private"
PRIVATE_README = """This folder holds what must not travel with the report: the auto-started reference
backend's log (its operations token and TOTP secret) and its database (the token, the secret and
full synthetic phone numbers). Keep it out of CI artifacts and shared folders; delete it at will.
"""


@dataclass
class SwarmRequest:
    settings: SwarmSettings
    host: str | None = None
    faults: tuple[str, ...] = ()
    workers: int = 0
    allow_remote: bool = False
    otp_secret: str = ""  # for a drill's top-up (read from the auto-started backend's banner)
    force: bool = False  # replace a run the folder holds (else such a folder is refused)
    wait_s: float = 0.0  # a given target that does not answer: ask again for this long (a later phase)


@dataclass
class SwarmResult:
    run_dir: Path
    status: str
    host: str
    plan: Plan
    exit_code: int
    logs: list[Path] = field(default_factory=list)
    reason: str = ""  # why the run ended early ("" when it played its whole window)
    signal: str | None = None  # the stop signal that ended it, if one did


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def private_dir(run_dir: Path) -> Path:
    """The run folder's private/ part (owner only), for what must stay out of reports and CI."""
    folder = run_dir / PRIVATE
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    (folder / "README").write_text(PRIVATE_README, encoding="utf-8")
    return folder


def start_reference_backend(procs: Processes, request: SwarmRequest, plan: Plan, run_dir: Path,
                            stops: StopSignals | None = None) -> tuple[str, str]:
    """Start `rehearse backend` for the run; (url, ops token), read from the ready file it writes
    once listening. That file, its log and its database hold the token, the TOTP secret and full
    synthetic phone numbers: they go to the private/ folder."""
    private = private_dir(run_dir)
    log = private / "backend.log"
    argv = [sys.executable, "-m", "rehearse", "backend", "--port", "0", "--reset",
            "--db", str(private / "backend.sqlite3"), f"--at={plan.window.start!r}",
            "--speed", repr(plan.compress)]
    if request.settings.scenario_path:
        argv.insert(4, str(request.settings.scenario_path))
    for override in request.settings.overrides:
        argv += ["--set", override]
    for fault in request.faults:
        argv += ["--fault", fault]
    ready_file = private / "backend.ready.json"
    ready_file.unlink(missing_ok=True)  # a stale one from a run before
    proc = procs.start(argv + ["--ready-file", str(ready_file)], log)
    found: list[Ready] = []

    def ready() -> bool:
        if proc.poll() is not None:
            raise RehearseError(f"the reference backend exited at start: {log.read_text().strip()[-300:]}")
        written = Ready.read(ready_file)
        if written is not None and written.pid == proc.pid:  # not another backend's
            found.append(written)
        return bool(found)

    wait_for(ready, STARTUP_TIMEOUT_S, "the reference backend's start", log, stops)
    url = found[0].url

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RehearseError(f"the reference backend exited at start: {log.read_text().strip()[-300:]}")
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, STARTUP_TIMEOUT_S, "the reference backend's first answer", log, stops)
    request.otp_secret = request.otp_secret or found[0].otp_secret
    return url, found[0].ops_token


def locust_argv(request: SwarmRequest, plan: Plan, host: str, run_dir: Path) -> list[str]:
    """The Locust command line shared by every process of the run: Locust's own options, and the
    run's settings as one spec file (`SwarmSettings.write_spec`, written here into the run folder)."""
    spec = replace(request.settings, run_dir=run_dir).write_spec(run_dir / layout.SWARM_SPEC)
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host,
            "--run-time", f"{math.ceil(plan.duration_s) + 10}s", "--stop-timeout", "1",
            "--csv", str(run_dir / "locust"), "--rehearse-spec", str(spec)]
    if request.allow_remote:
        argv.append("--allow-remote")
    return argv


def check_target(request: SwarmRequest, scenario: Scenario) -> None:
    """What can be refused about the target and the run folder before anything starts or prints."""
    if request.settings.run_dir is not None:
        check_unused(request.settings.run_dir, request.force)
    if request.host:
        check_host(request.host, request.allow_remote, scenario.target.allow_remote_hosts)
        if request.faults:
            raise UsageError("--fault plants defects in the bundled reference backend; it cannot "
                             "be used with --host")


def run_swarm(request: SwarmRequest, on_progress: Callable[[SwarmStatus], None] = lambda _: None,
              scenario: Scenario | None = None) -> SwarmResult:
    """Run the swarm to its end or to a stop signal; leave one consolidated run folder that says
    how the run ended. No child process outlives the call."""
    settings = request.settings
    scenario = scenario or settings.load()
    plan = settings.plan(scenario)
    check_target(request, scenario)
    if request.host:
        check_reachable(request.host, request.wait_s)
    run_dir = settings.run_dir or default_run_dir()
    with claimed(run_dir, request.force):  # one run, one folder: held until the run is gathered
        return _run_claimed(request, on_progress, scenario, plan, run_dir)


def _run_claimed(request: SwarmRequest, on_progress: Callable[[SwarmStatus], None], scenario: Scenario, plan: Plan,
                 run_dir: Path) -> SwarmResult:
    settings = request.settings
    host = request.host.rstrip("/") if request.host else ""
    seed = scenario.seed if settings.seed is None else settings.seed
    write_info(run_dir, RunInfo.start(scenario, engine="swarm", seed=seed, scale=plan.scale,
                                      compress=plan.compress, extra=run_facts(settings, plan, host)))
    procs = Processes()
    master: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = []
    progress: SwarmStatus | None = None
    timed_out = False
    with StopSignals() as stops:
        try:
            if request.host:
                token = settings.ops_token or os.environ.get("REHEARSE_OPS_TOKEN", "")
            else:
                host, token = start_reference_backend(procs, request, plan, run_dir, stops)
            stops.check()
            master, workers = _start_locust(procs, request, plan, host, token, run_dir)
            deadline = time.monotonic() + plan.duration_s + STARTUP_TIMEOUT_S + 30
            while master.poll() is None:
                stops.check()
                if time.monotonic() > deadline:
                    timed_out = True
                    break
                progress = SwarmStatus.read(run_dir) or progress  # None while not written or mid-replace
                if progress is not None:
                    on_progress(progress)
                time.sleep(0.2)
        except Stopped:
            pass
        except BaseException as exc:  # the backend did not start, ...: stop all, say so in run.json
            _stop_in_order(procs, master, workers)
            _mark_interrupted(run_dir, progress.elapsed_s if progress else 0.0, f"the run failed: {exc}")
            raise
        _stop_in_order(procs, master, workers)
        return _finish(run_dir, plan, host, master, stops.first, timed_out, progress, parent_facts(request))


def _start_locust(procs: Processes, request: SwarmRequest, plan: Plan, host: str, token: str,
                  run_dir: Path) -> tuple[subprocess.Popen, list[subprocess.Popen]]:
    env = {**os.environ, "REHEARSE_OPS_TOKEN": token, "REHEARSE_OTP_SECRET": request.otp_secret}
    argv = locust_argv(request, plan, host, run_dir)
    if request.workers <= 0:
        return procs.start(argv, run_dir / "locust.log", env), []
    port = _free_port()
    master = procs.start(argv + ["--master", "--expect-workers", str(request.workers),
                                 "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)],
                         run_dir / "locust-master.log", env)
    workers = [procs.start(argv + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                           run_dir / f"locust-worker-{n}.log", env) for n in range(request.workers)]
    return master, workers


def _stop_in_order(procs: Processes, master: subprocess.Popen | None, workers: list[subprocess.Popen]) -> None:
    """Locust first (SIGINT: it stops its users and saves), its workers (told by the master),
    then the backend; whatever will not stop within the grace is killed."""
    if master is not None:
        procs.stop(master, how=signal.SIGINT)
    for worker in workers:
        try:
            worker.wait(timeout=SHUTDOWN_GRACE_S)
        except subprocess.TimeoutExpired:
            procs.stop(worker, how=signal.SIGINT)
    procs.stop_all()


def _mark_interrupted(run_dir: Path, played_s: float, reason: str) -> RunInfo:
    """run.json as "interrupted" when its writer (Locust) could not close it itself."""
    info = read_info(run_dir)
    if info.status in ("running", "incomplete"):
        extra = {**info.extra, "played_s": round(played_s, 3), "stop_reason": reason}
        info = info.model_copy(update={"status": "interrupted", "ended_at": utc_now(), "extra": extra})
        write_info(run_dir, info)
    return info


def parent_facts(request: SwarmRequest) -> dict:
    """What only the command knows about a run, for run.json's extra: whether the harness started
    the target for it (the reference backend, fresh for each run) or was given one (`--host`:
    its state, the money it paid, carries over from run to run), and the caller's own facts (the
    main job's phase and job id, the faults planted)."""
    return {**request.settings.extra, "target": "given" if request.host else "started"}


def _finish(run_dir: Path, plan: Plan, host: str, master: subprocess.Popen | None, signal_name: str | None,
            timed_out: bool, progress: SwarmStatus | None, facts: dict | None = None) -> SwarmResult:
    """Merge the parts, settle run.json (with the command's own `facts`), and say why the run
    ended early if it did. A folder that cannot be written any more (a disk full) keeps its parts
    as they are: the run reads them, and the result says where they are."""
    (run_dir / STATUS_FILE).unlink(missing_ok=True)
    played = progress.elapsed_s if progress else 0.0
    unsaved = ""
    try:
        _mark_interrupted(run_dir, min(played, plan.duration_s), "the load processes did not close the run")
        consolidate(run_dir)
    except (OSError, ObservationError) as exc:
        unsaved = (f"; the run folder could not be written to the end ({_said(exc)}): its rows are kept "
                   f"unmerged in {run_dir / 'parts'}")
    run = load_run(run_dir)
    info = run.info
    missing = {k: v for k, v in (facts or {}).items() if k not in info.extra}
    if missing and not unsaved:
        try:
            info = info.model_copy(update={"extra": {**info.extra, **missing}})
            write_info(run_dir, info)
        except OSError as exc:
            unsaved = f"; run.json could not be written to the end ({_said(exc)})"
    if unsaved and info.status in ("running", "incomplete"):
        info = info.model_copy(update={"status": "interrupted"})
    played = float(info.extra.get("played_s", played) or 0.0)  # type: ignore[arg-type]
    logs = sorted(run_dir.glob("*.log"))
    code = master.returncode if master is not None and master.returncode is not None else 1
    reason = ""
    if info.status != "finished":
        reason = _why(run, info, signal_name, timed_out, code, logs, played, plan.duration_s) + unsaved
        if info.extra.get("stop_reason") != reason and not unsaved:
            write_info(run_dir, info.model_copy(update={"extra": {**info.extra, "stop_reason": reason}}))
    if signal_name and info.status != "finished":
        exit_code = 130
    elif unsaved or code == RunInterrupted.exit_code:
        exit_code = RunInterrupted.exit_code
    else:
        exit_code = 1 if timed_out else code or 0
    return SwarmResult(run_dir=run_dir, status=info.status, host=host, plan=plan, exit_code=exit_code,
                       logs=logs, reason=reason, signal=signal_name if info.status != "finished" else None)


def stop_if_harness_failed(result) -> None:
    """After a swarm that a fault of the harness's own ended (a mapping aiming the load elsewhere:
    bad input; its rows could not be written: interrupted), a command that would go on stops."""
    if result.exit_code == UsageError.exit_code:
        raise UsageError(f"{result.reason}; what was measured is in {result.run_dir}")
    if result.exit_code == RunInterrupted.exit_code:
        raise RunInterrupted(f"{result.reason}; what was measured is in {result.run_dir} (marked {result.status})")


def stop_if_signalled(result) -> None:
    """After a swarm that a stop signal ended, a command that would go on (run, drill) stops."""
    if result.signal:
        raise Interrupted(f"{result.reason}; what was measured is in {result.run_dir} (marked {result.status})")


def _said(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or " ".join(str(exc).split())[:200] or type(exc).__name__


def _why(run, info: RunInfo, signal_name: str | None, timed_out: bool, code: int, logs: list[Path],
         played: float, duration: float) -> str:
    after = f"after {played:.0f} of {duration:.0f} s"
    if signal_name:
        how = " (Ctrl-C)" if signal_name == "SIGINT" else ""
        return f"stopped by {signal_name}{how} {after}"
    if "target_down" in set(run.events["kind"]):
        return f"the target stopped answering (every request failed for 3 s) {after}"
    if timed_out:
        return f"Locust did not end with its window and was stopped {after}"
    said = _last_error(logs) or str(info.extra.get("stop_reason") or "")
    if code == RunInterrupted.exit_code:
        return f"the run was interrupted {after}: {said or 'a load process could not write its rows'}"
    return f"Locust exited with code {code} {after}" + (f": {said}" if said else "") + (
        f"; see {logs[0]}" if logs else "")


def _last_error(logs: list[Path]) -> str:
    """The last line a load process logged as an error, if any."""
    found = ""
    for log in logs:
        try:
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if "rehearse: error:" in line:
                found = line[line.index("rehearse: error:") + len("rehearse: error:"):].strip()
    return found
