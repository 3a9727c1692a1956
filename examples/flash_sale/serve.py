"""The Flash Sale backend in a process of its own, for tests and benchmarks:

    with serving(faults=("oversell",)) as url:
        ...rehearse ci examples/flash_sale/scenario.yaml --host url...
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

ROOT = Path(__file__).resolve().parents[2]
"""The folder that holds `examples/` (the repository's root)."""
SCENARIO = Path(__file__).resolve().parent / "scenario.yaml"
START_TIMEOUT_S = 20.0


@contextmanager
def serving(faults: tuple[str, ...] = (), *options: str) -> Iterator[str]:
    """Start the backend on a free loopback port (with `options`, e.g. "--stock", "60"); its URL;
    stop it afterwards."""
    argv = [sys.executable, "-m", "examples.flash_sale", "--port", "0", *options]
    for fault in faults:
        argv += ["--fault", fault]
    with tempfile.TemporaryFile("w+") as log:  # a pipe nobody reads could fill and stall the server
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            yield _url(proc, log)
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _url(proc: subprocess.Popen, log: IO[str]) -> str:
    """The URL the backend prints on its first line."""
    deadline = time.monotonic() + START_TIMEOUT_S
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            proc.wait(5)
            log.seek(0)
            raise RuntimeError(f"the Flash Sale backend exited at start: {log.read().strip()[-300:]}")
        if line.startswith("Flash Sale backend at "):
            return line.strip().rsplit(" ", 1)[-1]
    raise RuntimeError("the Flash Sale backend did not print its URL in time")
