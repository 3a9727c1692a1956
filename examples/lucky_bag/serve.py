"""The Lucky Bag backend in a process of its own, for tests and benchmarks:

    with serving(faults=("slow-failover",)) as (url, ops_key):
        ...rehearse ci examples/lucky_bag/scenario.yaml --host url --ops-token ops_key...
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
def serving(faults: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """Start the backend on a free loopback port; (its URL, its ops key); stop it afterwards."""
    argv = [sys.executable, "-m", "examples.lucky_bag", "--port", "0"]
    for fault in faults:
        argv += ["--fault", fault]
    with tempfile.TemporaryFile("w+") as log:  # a pipe nobody reads could fill and stall the server
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            yield _banner(proc, log)
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _banner(proc: subprocess.Popen, log: IO[str]) -> tuple[str, str]:
    """The URL and ops key the backend prints first (one line each)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    lines: list[str] = []
    assert proc.stdout is not None
    while len(lines) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            proc.wait(5)
            log.seek(0)
            raise RuntimeError(f"the Lucky Bag backend exited at start: {log.read().strip()[-300:]}")
        lines.append(line.strip())
    if len(lines) < 2:
        raise RuntimeError("the Lucky Bag backend did not print its URL and ops key in time")
    return lines[0].rsplit(" ", 1)[-1], lines[1].rsplit(" ", 1)[-1]
