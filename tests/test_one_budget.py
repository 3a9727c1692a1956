"""One target, one budget: the main job's phases against one given target spend the same pools,
so each phase is judged against what the phases before it left (judging/carried.py)."""

from __future__ import annotations

import pytest

from rehearse.judging.judge import judge
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


# --- a race the target cannot cut is sized to the end of what the pools hold ------------------

def test_what_the_phases_left_is_handed_to_the_next_one(small_pool):
    """`money_after`: the given target's pools after the phases played (the window's race is sized
    from it); nothing for a target started afresh for each phase."""
    from rehearse.judging.carried import money_after

    peak = phase("peak", range(6))
    left = money_after([peak], small_pool)
    assert left is not None and left.pools_left["anhe"] == 400 and left.paid_fen == 600
    assert money_after([phase("peak", range(6), target="started")], small_pool) is None


def _race(scenario, plan, cuttable=False, paid=None):
    from rehearse.swarm.rehearsal import Race

    events = []
    race = Race(scenario, None, None, plan, lambda name, **params: None, lambda t, kind, detail: events.append(
        (kind, detail)), lambda: 0.0, cuttable, lambda pool: (paid or {}).get(pool, 0))
    return race, events


def test_an_uncut_race_meets_the_last_envelopes_by_the_harnesss_reckoning():
    """A sale of 300 units: earlier phases left 60, this run was seen paid 20: 40 units left, so
    50 racers (every unit and ten more) race the pool with the fewest envelopes left, and the race
    says it raced the pool's end (no race_uncut: its evidence is the rows)."""
    from rehearse.swarm.rehearsal import RACE_UNCUT
    from rehearse.swarm.settings import RehearsalPlan

    sale = load_scenario("examples/flash_sale/scenario.yaml")
    plan = RehearsalPlan(race_at=10.0, racers=40, money_left=(("kettle-k2", 60 * 9900),))
    race, events = _race(sale, plan, paid={"kettle-k2": 20 * 9900})
    assert race.size() == 50 and race.institution.id == "kettle-k2" and race.left_fen == 40 * 9900
    assert race.cut() is None
    assert [kind for kind, _ in events] == ["incident"]
    assert "against the 396,000 fen (40 envelopes) it holds by the harness's reckoning" in events[0][1]
    assert RACE_UNCUT not in {kind for kind, _ in events}


def test_an_uncut_race_larger_than_the_bound_says_it_raced_repeated_taps():
    from rehearse.swarm.rehearsal import MAX_UNCUT_RACERS, RACE_UNCUT
    from rehearse.swarm.settings import RehearsalPlan

    sale = load_scenario("examples/flash_sale/scenario.yaml")  # 300 units, nothing paid yet
    race, events = _race(sale, RehearsalPlan(race_at=10.0, racers=40))
    assert race.size() == MAX_UNCUT_RACERS
    race.cut()
    uncut = dict(events)[RACE_UNCUT]
    assert f"holding 300 envelopes by the harness's reckoning (more than {MAX_UNCUT_RACERS} racers can spend)" in uncut


def test_a_race_the_target_can_cut_keeps_its_planned_size(small_pool):
    from rehearse.swarm.settings import RehearsalPlan

    race, _ = _race(small_pool, RehearsalPlan(race_at=10.0, racers=40), cuttable=True)
    assert race.size() == 40


def test_an_uncut_race_picks_the_pool_with_the_fewest_envelopes_left():
    from rehearse.swarm.rehearsal import race_pool, uncut_racers

    scenario = load_scenario()
    ids = [i.id for i in scenario.campaign.institutions]
    left = {i: 10**9 for i in ids} | {ids[-1]: 0}
    assert race_pool(scenario, left).id == ids[-1]
    assert uncut_racers(40, 0) == 40 and uncut_racers(40, 100) == 125 and uncut_racers(40, 10**6) == 300


def test_the_money_left_crosses_to_the_load_process_as_data():
    from rehearse.scenarios import UsageError
    from rehearse.swarm.settings import parse_money_left

    assert parse_money_left("anhe=150000,kettle-k2=-9900") == (("anhe", 150000), ("kettle-k2", -9900))
    assert parse_money_left(None) == ()
    with pytest.raises(UsageError, match="--money-left 'anhe': give POOL=FEN"):
        parse_money_left("anhe")
