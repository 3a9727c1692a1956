"""The main job against every planted fault of a bundled backend, at default settings.

Runs `rehearse ci` (simulate, the 30 s live swarm with its ban and budget race, the gates) once
per fault and `--healthy N` times on the healthy backend, and prints, per run: the exit code,
the checks that failed, the required checks left unverified and the wall time. A fault is
caught when its run exits 1 naming a failed check; the healthy backend must exit 0 every time
(no false alarm). Not a test: about a minute a run on a 2-core machine.

    .venv/bin/python benchmarks/fault_matrix.py [--healthy 10] [--swarm-duration 30s]
    .venv/bin/python benchmarks/fault_matrix.py --backend lucky_bag   # examples/lucky_bag, its own faults
    .venv/bin/python benchmarks/fault_matrix.py --backend flash_sale  # examples/flash_sale (no links, no ops hooks)
    .venv/bin/python benchmarks/fault_matrix.py --backend all --healthy 1   # the whole matrix

Each row also prints the run's four answer lines (Peak, Failover, Budget, Fraud): PASS or NOT
APPLICABLE on the healthy backend, FAIL naming the fault's check on each fault.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAULTS = {"reference": ["overspend", "double-pay", "no-failover", "no-antifraud", "slow-open", "preheat-leak"],
          "lucky_bag": ["nonatomic-debit", "slow-failover", "leaky-segments", "retry-paid-twice",
                        "replay-pays-again"],
          "flash_sale": ["oversell", "double-order", "drifting-counter", "pool-exhausted"]}
ROOT = Path(__file__).resolve().parents[1]


def one(fault: str | None, duration: str, work: Path, n: int, backend: str = "reference",
        extra: tuple[str, ...] = ()) -> dict:
    """`rehearse ci` once against the backend (with the fault planted); its exit, checks, time."""
    out = work / f"{fault or 'healthy'}-{n}"
    argv = [sys.executable, "-m", "rehearse", "ci", "--out", str(out), "--swarm-duration", duration, *extra]
    started = time.perf_counter()
    if backend == "lucky_bag":
        sys.path.insert(0, str(ROOT))  # examples/ is beside the package, not in it
        from examples.lucky_bag.serve import SCENARIO, serving

        with serving((fault,) if fault else ()) as (url, key):
            done = subprocess.run([*argv, str(SCENARIO), "--host", url], capture_output=True, text=True,
                                  cwd=ROOT, env={**os.environ, "REHEARSE_OPS_TOKEN": key})
    elif backend == "flash_sale":
        sys.path.insert(0, str(ROOT))
        from examples.flash_sale.serve import SCENARIO as SALE, serving as selling

        with selling((fault,) if fault else ()) as url:
            done = subprocess.run([*argv, str(SALE), "--host", url], capture_output=True, text=True, cwd=ROOT)
    else:
        done = subprocess.run([*argv, *(["--fault", fault] if fault else [])], capture_output=True, text=True)
    wall = time.perf_counter() - started
    report = out / "report" / "report.json"
    data = json.loads(report.read_text()) if report.exists() else {}
    failed = sorted({f"{v['run']}: {v['check']}" for v in data.get("verdicts", []) if v["status"] == "fail"})
    missing = sorted({f"{v['run']}: {v['key']}" for v in data.get("required_not_verified", [])})
    error = "" if data else " ".join(done.stderr.strip().splitlines()[-1:])
    answers = [line for line in done.stderr.splitlines() + done.stdout.splitlines()
               if line.startswith(("Peak: ", "Failover: ", "Budget: ", "Fraud: "))]
    return {"backend": backend, "fault": fault or "healthy", "exit": done.returncode, "failed": failed,
            "missing": missing, "wall_s": wall, "error": error, "answers": answers[:4]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--healthy", type=int, default=3, help="runs on the healthy backend (default 3)")
    parser.add_argument("--swarm-duration", default="30s", help="the live swarm's wall time (default 30s)")
    parser.add_argument("--backend", choices=[*sorted(FAULTS), "all"], default="reference",
                        help="the reference backend, examples/lucky_bag (business codes, cookies, yuan), "
                             "examples/flash_sale (a sale without share links or ops hooks), or all three")
    parser.add_argument("--faults", default="", help="comma-separated faults to plant (default: all of the backend's)")
    args = parser.parse_args()
    backends = sorted(FAULTS) if args.backend == "all" else [args.backend]
    rows = []
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as tmp:
        for backend in backends:
            faults = [f for f in args.faults.split(",") if f in FAULTS[backend]] or FAULTS[backend]
            work = Path(tmp) / backend
            work.mkdir()
            rows += [one(None, args.swarm_duration, work, n, backend) for n in range(args.healthy)]
            rows += [one(f, args.swarm_duration, work, 0, backend) for f in faults]
    print(f"{'backend':<11} {'fault':<17} {'exit':>4} {'wall':>6}  verdict")
    for r in rows:
        healthy = r["fault"] == "healthy"
        ok = r["exit"] == 0 if healthy else (r["exit"] == 1 and r["failed"])
        what = "; ".join(r["failed"]) or ("required not verified: " + ", ".join(r["missing"]) if r["missing"]
                                          else str(r["error"]) or "pass: every required check verified")
        print(f"{r['backend']:<11} {r['fault']:<17} {r['exit']:>4} {r['wall_s']:>5.0f}s  {'ok  ' if ok else 'MISS'} {what}")
        for line in r["answers"]:
            print(f"{'':<36}{line[:160]}")
    faults_run = [r for r in rows if r["fault"] != "healthy"]
    caught = sum(1 for r in faults_run if r["exit"] == 1 and r["failed"])
    clean = sum(1 for r in rows if r["fault"] == "healthy" and r["exit"] == 0)
    print(f"faults caught by a failed check: {caught} of {len(faults_run)}; healthy runs passing: {clean} of "
          f"{args.healthy * len(backends)}")


if __name__ == "__main__":
    main()
