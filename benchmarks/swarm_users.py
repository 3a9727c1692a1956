"""What one persona process does with many users at real think times: requests/s, latency, CPU.

nginx on core 0 answers every path with a fixed JSON body (as in swarm_rps.py), one Locust
process on core 1 plays `--users` persona users 1:1 in real time (the bundled mix and think
times) through a flat window, so the user count holds. nginx answers in well under a
millisecond: the latency printed is the generator's own. With `--profile FILE`, py-spy
(`pip install py-spy`, not a project dependency) samples the Locust process into FILE
(an SVG flame graph for .svg, collapsed stacks for .txt, else speedscope JSON).

    .venv/bin/python benchmarks/swarm_users.py [--users 2000] [--seconds 60] [--profile out.json]

Needs nginx (`apt-get install nginx-light`) and taskset.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from swarm_rps import ROOT, check_tools, nginx, under_py_spy

FLAT_WINDOW = "traffic.windows.bench={start: 3d, duration: 1h}"  # an ordinary hour's participants, N playing at once


def locust_command(url: str, users: int, seconds: int, work: Path) -> list[str]:
    return ["taskset", "-c", "1", sys.executable, "-m", "locust", "-f", "locustfile.py", "--headless",
            "--only-summary", "--host", url, "--window", "bench", "--steps", str(users),
            "--step-duration", f"{seconds}s", "--set", FLAT_WINDOW,
            "--run-dir", str(work / "run"), "--csv", str(work / "stats")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--port", type=int, default=8792)
    parser.add_argument("--profile", default="", help="py-spy output file (.svg: flame graph, .txt: collapsed stacks, else speedscope)")
    args = parser.parse_args()
    check_tools()
    work = Path(tempfile.mkdtemp(prefix="rehearse-swarm-users-"))
    try:
        with nginx(work, args.port) as url:
            run(args, url, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, url: str, work: Path) -> None:
    """One persona run against nginx at `url`, its figures printed."""
    command = locust_command(url, args.users, args.seconds, work)
    if args.profile:
        command = under_py_spy(command, Path(args.profile))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, check=True, timeout=args.seconds + 120, env={**os.environ},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stats = pd.read_csv(work / "stats_stats.csv")
    total = stats[stats["Name"] == "Aggregated"].iloc[0]
    print(f"nginx on core 0, one Locust process on core 1: {args.users} persona users, 1:1, real time, "
          f"{args.seconds} s")
    print(f"  requests/s  {total['Requests/s']:9,.0f}   ({int(total['Request Count']):,} requests, "
          f"{int(total['Failure Count']):,} failures)")
    print(f"  latency     p50 {total['50%']:,.0f} ms   p95 {total['95%']:,.0f} ms   p99 {total['99%']:,.0f} ms")
    print(f"  CPU         {100 * cpu / wall:5.0f} % of one core over {wall:.0f} s wall (start-up included)")
    worst = stats[stats["Name"] != "Aggregated"].sort_values("50%", ascending=False).head(3)
    for _, row in worst.iterrows():
        print(f"    {row['Name']:<24} p50 {row['50%']:7,.0f} ms  p95 {row['95%']:7,.0f} ms  n={int(row['Request Count']):,}")


if __name__ == "__main__":
    main()
