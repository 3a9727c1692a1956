"""One target, one budget: the main job's phases against one given target spend the same pools,
so each phase is judged against what the phases before it left (reports/carried.py)."""

from __future__ import annotations

import pytest

from rehearse.reports.judge import judge
from rehearse.scenarios import load_scenario

from test_gates import make_run, request

HOST = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def small_pool():
    return load_scenario(overrides=["budget.institutions_fen.anhe=1000"])  # 10 yuan in the anhe pool


def phase(label: str, users: range, target: str = "given", job: str = "job-1", host: str = HOST, events=()):
    """A phase's run: each participant opens anhe's envelope once and is paid 100 fen."""
    rows = [request(10.0 + n, "open_envelope", user=f"{label}-normal-{n}", payout_fen=100) for n in users]
    return label, make_run(rows, events=events, extra={"host": host, "target": target, "job": job, "phase": label})


def verdict(judgement, run: str, slug: str):
    return next(v for v in judgement.verdicts if v.run == run and v.slug == slug)


def test_pools_that_overspend_only_across_phases_fail_no_pool_overdrawn(small_pool):
    # 600 fen in the peak phase, 600 in the window: each within 1,000, together 200 over
    judgement = judge([phase("peak", range(6)), phase("live", range(6))], small_pool)
    assert verdict(judgement, "peak", "no_pool_overdrawn").status == "pass"
    over = verdict(judgement, "live", "no_pool_overdrawn")
    assert over.status == "fail"
    assert "400 fen (what was left after peak" in over.evidence[0].detail  # 600 paid against 400 left
    total = verdict(judgement, "live", "never_overdrawn")
    assert total.status == "pass" and "left after peak (6.00 yuan paid there: the same target)" in \
        total.evidence[0].detail
    assert not judgement.tally.ok


def test_a_target_started_for_each_phase_starts_afresh(small_pool):
    judgement = judge([phase("peak", range(6), target="started"), phase("live", range(6), target="started")],
                      small_pool)
    assert verdict(judgement, "live", "no_pool_overdrawn").status == "pass"
    assert "(a target started afresh for this run)" in verdict(judgement, "live", "never_overdrawn").evidence[0].detail


@pytest.mark.parametrize("other", [{"job": "job-2"}, {"host": "http://127.0.0.1:10"}])
def test_another_rehearsal_or_another_target_carries_nothing(small_pool, other):
    judgement = judge([phase("peak", range(6)), phase("live", range(6), **other)], small_pool)
    assert verdict(judgement, "live", "no_pool_overdrawn").status == "pass"


def test_what_a_budget_race_cut_carries_forward_as_the_cut(small_pool):
    """A pool the harness cut small in the first phase holds what was left at the cut, less what
    was paid after it, when the next phase begins."""
    cut = [(5.0, "pool_cap", '{"pool": "anhe", "left_fen": 300}')]
    judgement = judge([phase("peak", range(2), events=cut), phase("live", range(2))], small_pool)
    assert verdict(judgement, "live", "no_pool_overdrawn").status == "fail"  # 300 - 200 = 100 left; 200 asked
