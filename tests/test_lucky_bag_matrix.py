"""The main job (`rehearse ci`) against a backend of another style, mapped with the declarative
contract alone plus one function hook: examples/lucky_bag (business codes in 200 answers, yuan
strings, cookie sessions, an idempotency key, a signed payout, no grand round). The healthy
backend passes; each planted fault fails the check that guards against it.

Sized for the suite: the healthy run plays one peak step at the gate's target (10 s), the fault
runs skip the peak phase (their faults are in the launch window's ban, race and scripts) and play
the launch window in 12 s, the healthy one in 20 s. `benchmarks/fault_matrix.py --backend lucky_bag` runs the
same matrix at default settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from examples.lucky_bag.serve import ROOT, SCENARIO, serving

pytestmark = pytest.mark.xdist_group("live")

CAUGHT_BY = {
    "nonatomic-debit": "no pool overdrawn",
    "slow-failover": "links off",
    "leaky-segments": "virtual and blacklisted numbers refused",
    "retry-paid-twice": "no attempt paid twice",
    "replay-pays-again": "no attempt paid twice",  # caught on the harness's rows (see below)
}


def ci(out: Path, fault: str | None, duration: str, *options: str) -> tuple[int, dict]:
    with serving((fault,) if fault else ()) as (url, key):
        done = subprocess.run([sys.executable, "-m", "rehearse", "ci", str(SCENARIO), "--host", url, "--out", str(out),
                               "--swarm-duration", duration, *options], capture_output=True, text=True, timeout=400,
                              cwd=ROOT, env={**os.environ, "REHEARSE_OPS_TOKEN": key})
    report = out / "report" / "report.json"
    assert report.exists(), done.stderr[-2000:]
    return done.returncode, json.loads(report.read_text())


def failed(report: dict) -> set[str]:
    return {v["check"] for v in report["verdicts"] if v["status"] == "fail"}


def why_failed(report: dict) -> list[str]:
    """Each failed check with its run and first evidence: what a red CI run must say."""
    return [f'{v["run"]}: {v["check"]}: {[e["detail"] for e in v["evidence"]][:2]}'
            for v in report["verdicts"] if v["status"] == "fail"]


def test_the_healthy_lucky_bag_passes_the_main_job(tmp_path):
    code, report = ci(tmp_path, None, "20s", "--peak-steps", "800", "--peak-step-duration", "10s")
    assert code == 0, (why_failed(report), report.get("required_not_verified"))
    checks = {(v["run"], v["check"]): v["status"] for v in report["verdicts"]}
    assert checks[("peak", "active users served")] == "pass"
    assert any(run == "live" and check.startswith("links off") and status == "pass"
               for (run, check), status in checks.items())
    assert checks[("live", "no attempt paid twice")] == "pass"


@pytest.mark.parametrize("fault", sorted(CAUGHT_BY))
def test_each_lucky_bag_fault_fails_the_check_that_guards_against_it(tmp_path, fault):
    code, report = ci(tmp_path, fault, "12s", "--peak-steps", "0")
    assert code == 1
    assert any(check.startswith(CAUGHT_BY[fault]) for check in failed(report)), failed(report)
    if fault == "replay-pays-again":  # the harness's guard saw it, not only the backend's own books
        evidence = [e["detail"] for v in report["verdicts"] if v["check"] == CAUGHT_BY[fault] and v["status"] == "fail"
                    for e in v["evidence"]]
        assert any("(marked a replay)" in e for e in evidence), evidence
