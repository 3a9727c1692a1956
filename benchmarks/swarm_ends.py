"""Whether a plain Locust run of the personas ends by itself, run after run: the persona run of
`swarm_rps.py` (nginx on core 0 answering every path, one Locust process on core 1, fast
personas, so fraud scripts burst often) played RUNS times, each given its duration plus a grace
to end. A run still going then is counted as hung and killed. Before the fix of a slot whose
Locust kill was held for a burst (swarm/locustfile.py `participate`), 2 runs of 14 hung on a
quiet 2-core machine and 6 of 12 beside a main job; 0 of 12 after (2026-12-04).

    .venv/bin/python benchmarks/swarm_ends.py [--runs 20] [--seconds 10]

Needs nginx (`apt-get install nginx-light`) and taskset.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from swarm_rps import FAST_PERSONAS, ROOT, check_tools, nginx

GRACE_S = 35.0  # start-up and the save, with room: an ended run takes ~1 s beyond its duration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--port", type=int, default=8792)
    args = parser.parse_args()
    if args.seconds < 5 or args.runs < 1:
        parser.error("--seconds is at least 5 (a step's shortest) and --runs at least 1")
    check_tools()
    work = Path(tempfile.mkdtemp(prefix="rehearse-swarm-ends-"))
    sets = [arg for override in FAST_PERSONAS for arg in ("--set", override)]
    hung, took = 0, []
    try:
        with nginx(work, args.port) as url:
            for n in range(args.runs):
                command = ["taskset", "-c", "1", sys.executable, "-m", "locust", "--headless", "--only-summary",
                           "-f", "locustfile.py", "--host", url, "--window", "bench", "--steps", str(args.users),
                           "--step-duration", f"{args.seconds}s", *sets, "--run-dir", str(work / f"run-{n}")]
                started = time.monotonic()
                proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                try:
                    _, err = proc.communicate(timeout=args.seconds + GRACE_S)
                    if proc.returncode != 0:
                        said = next((line for line in err.splitlines() if "error" in line.lower()), err[-300:])
                        sys.exit(f"run {n + 1}: locust exited {proc.returncode}: {said.strip()}")
                    took.append(time.monotonic() - started)
                    print(f"  run {n + 1}/{args.runs}: ended in {took[-1]:.1f} s", flush=True)
                except subprocess.TimeoutExpired:
                    hung += 1
                    proc.kill()
                    proc.wait()
                    print(f"  run {n + 1}/{args.runs}: HUNG (killed after {args.seconds + GRACE_S:g} s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ended = len(took)
    print(f"persona runs of {args.seconds} s, {args.users} users, plain Locust: {ended} of {args.runs} ended by "
          f"themselves ({hung} hung past {args.seconds + GRACE_S:g} s)"
          + (f"; an ended run took {min(took):.1f}-{max(took):.1f} s" if took else ""))


if __name__ == "__main__":
    main()
