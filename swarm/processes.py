"""The child processes of a swarm run (Locust, the reference backend) and the signals that stop it.

However the `rehearse` command ends (the run's end, Ctrl-C twice, SIGTERM, SIGHUP, even SIGKILL
on Linux), its children end with it: they are stopped in order, given time to save what they
measured, then killed; and each one dies with its parent.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from rehearse.scenarios import RehearseError

SHUTDOWN_GRACE_S = 20.0


class Stopped(Exception):
    """A stop signal arrived while the run was starting or playing. Raised by the run's own
    code at a safe point (`StopSignals.check`), never from inside a signal handler, so stopping
    the children and saving the run are never cut short."""


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP while a run plays: the first asks it to stop, the later ones are
    only noted (a second Ctrl-C must not cut short the saving of what was measured)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: list[str] = []
        self._saved: dict[int, object] = {}

    @property
    def first(self) -> str | None:
        return self.received[0] if self.received else None

    def check(self) -> None:
        """Raise Stopped if a stop signal has arrived."""
        if self.received:
            raise Stopped(self.received[0])

    def _note(self, signum: int, _frame: object) -> None:
        self.received.append(signal.Signals(signum).name)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._saved = {sig: signal.signal(sig, self._note) for sig in self.SIGNALS}
        return self

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def _die_with_parent() -> None:
    """In a child, before exec: SIGTERM when the parent dies, even by SIGKILL (Linux's
    PR_SET_PDEATHSIG), so no load or backend outlives the command that started it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class Processes:
    """Child processes in their own sessions (the terminal's Ctrl-C reaches only the command,
    which stops them in order), each dying with its parent."""

    def __init__(self) -> None:
        self.items: list[subprocess.Popen] = []

    def start(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
        with open(log, "w", encoding="utf-8") as handle:
            proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self.items.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen, grace: float = SHUTDOWN_GRACE_S,
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
        """Every child still running, the last started first."""
        for proc in reversed(self.items):
            self.stop(proc)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, log: Path | None = None,
             stops: StopSignals | None = None) -> None:
    """Poll until predicate() holds; a stop signal or the timeout ends the wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stops is not None:
            stops.check()
        if predicate():
            return
        time.sleep(0.05)
    hint = f"; see {log}" if log else ""
    raise RehearseError(f"{what} did not happen within {timeout:g} s{hint}")
