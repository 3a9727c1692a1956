"""The payout gate from the harness's own rows: each check fails on its defect, is not verified
with nothing to judge, and the target's books can fail a check but never pass one."""

from __future__ import annotations

import json

import pytest

from rehearse.personas.steps import paying_replays, replay_note, replayed_fen
from rehearse.judging.payout_gate import payout_gate
from rehearse.judging.payouts import Payouts
from rehearse.scenarios.rules import PAYOUT_ACTIONS
from rehearse.scenarios import load_scenario
from test_gates import healthy_gauges, healthy_requests, make_run, request, status

INSTITUTIONS = ["anhe", "beichen", "chunhui", "dingsheng", "everbright", "fuxing", "guotai", "hengyuan"]


@pytest.fixture(scope="module")
def small():
    """The campaign with 1,000 fen in each of its ten pools (10,000 fen in all; no scheduled top-ups)."""
    return load_scenario(overrides=[*(f"budget.institutions_fen.{i}=1000" for i in INSTITUTIONS),
                                    "budget.grand_round_fen=1000", "budget.invite_fen=1000", "budget.topups=[]"])


def key(verdicts, key):
    return next(v for v in verdicts if v.key == key)


def ledger(paid: int, pools: dict | None = None, twice: int = 0) -> str:
    return json.dumps({"paid_fen": paid, "paid_twice": twice, "pools": pools or {}})


def envelopes(n: int, fen: int = 100, prize: str = "anhe", t0: float = 10.0):
    return [request(t0 + i, "open_envelope", user=f"normal-{i}", payout_fen=fen, prize=prize) for i in range(n)]


def test_a_pool_paid_beyond_its_budget_fails_from_the_rows_alone(small):
    verdicts = payout_gate(make_run(envelopes(12)), small)  # 1,200 fen from anhe's 1,000
    check = key(verdicts, "payout.no_pool_overdrawn")
    assert check.status == "fail" and check.figure == 1
    assert "anhe: 1,200 fen paid against 1,000 fen (its budget, top-ups included), 200 fen over" in \
        check.evidence[0].detail
    assert key(verdicts, "payout.never_overdrawn").status == "pass"  # 1,200 of 10,000 in all


def test_the_whole_budget_paid_beyond_fails(small):
    rows = [r for prize in [*INSTITUTIONS, "grand"] for r in envelopes(11, fen=110, prize=prize)]
    check = key(payout_gate(make_run(rows), small), "payout.never_overdrawn")
    assert check.status == "fail" and check.figure == 9 * 11 * 110 - 10_000


def test_only_a_top_up_made_in_time_covers_payouts(small):
    """A top-up counts once (as the run saw it made) and from when it came, never before."""
    rows = [r for prize in [*INSTITUTIONS, "grand"] for r in envelopes(11, fen=110, prize=prize)]  # 890 fen over
    late = [(1e6, "topup", "anhe +2000 fen")]
    assert key(payout_gate(make_run(rows, events=late), small), "payout.never_overdrawn").status == "fail"
    early = [(1.0, "topup", "anhe +2000 fen")]
    assert key(payout_gate(make_run(rows, events=early), small), "payout.never_overdrawn").status == "pass"
    planned = load_scenario(overrides=[*(f"budget.institutions_fen.{i}=1000" for i in INSTITUTIONS),
                                       "budget.topups=[{at: 0s, pool: anhe, amount_fen: 5000}]"])
    # the scenario plans a top-up, but the run never saw it made: it covers nothing
    assert key(payout_gate(make_run(envelopes(12)), planned), "payout.no_pool_overdrawn").status == "fail"


def test_a_cap_judges_payouts_from_then_and_a_top_up_adds_to_it(small):
    cap = [(20.0, "pool_cap", json.dumps({"pool": "anhe", "left_fen": 250}))]
    after = envelopes(3, t0=30.0)  # 300 fen after the cap of 250
    assert key(payout_gate(make_run(envelopes(5) + after, events=cap), small), "payout.no_pool_overdrawn").status == "fail"
    topped = cap + [(25.0, "topup", "anhe +100 fen")]
    assert key(payout_gate(make_run(envelopes(5) + after, events=topped), small),
               "payout.no_pool_overdrawn").status == "pass"


def test_a_payout_in_flight_when_the_cap_came_counts_before_it(small):
    cap = [(20.0, "pool_cap", json.dumps({"pool": "anhe", "left_fen": 200}))]
    # a row's t is when its request was sent: this one went out before the cut, answered after it
    rows = envelopes(2, t0=30.0) + [request(19.5, "open_envelope", user="slow", payout_fen=100, latency_ms=900.0)]
    assert key(payout_gate(make_run(rows, events=cap), small), "payout.no_pool_overdrawn").status == "pass"


def test_the_targets_own_overdraft_fails_even_when_the_rows_show_none(small):
    books = [(0.0, "ledger_start", ledger(0)), (99.0, "ledger", ledger(100, {"anhe": {"left_fen": -300}}, twice=2))]
    verdicts = payout_gate(make_run(envelopes(1), healthy_gauges(left=-300), books), small)
    assert key(verdicts, "payout.no_pool_overdrawn").status == "fail"
    assert key(verdicts, "payout.never_overdrawn").status == "fail"
    assert key(verdicts, "payout.paid_once").status == "fail"  # the target admits prizes paid twice


def test_an_attempt_paid_twice_fails(scenario):
    burst = [request(10.0, "open_envelope", user="fraud_script-1", persona="fraud_script", payout_fen=88,
                     attempt="fraud_script-1#4"),
             request(10.1, "open_envelope", user="fraud_script-1", persona="fraud_script", payout_fen=88,
                     attempt="fraud_script-1#4")]
    check = key(payout_gate(make_run(healthy_requests() + burst), scenario), "payout.paid_once")
    assert check.status == "fail" and check.figure == 1
    assert "fraud_script-1: one open_envelope (anhe) paid 2 times" in check.evidence[0].detail


def test_a_burst_paid_once_passes_and_no_burst_verifies_nothing(scenario):
    burst = [request(10.0, "open_envelope", user="f-1", payout_fen=88, attempt="f-1#4"),
             request(10.1, "open_envelope", user="f-1", ok=False, refused=True, status=409, attempt="f-1#4")]
    assert key(payout_gate(make_run(healthy_requests() + burst), scenario), "payout.paid_once").status == "pass"
    assert key(payout_gate(make_run(healthy_requests()), scenario), "payout.paid_once").status == "unverified"


def copies(*answers, user="f-1", attempt="f-1#4"):
    """One attempt's copies: an int is a copy paid that many fen, ("replay", fen) a copy the
    target marked a replay of an earlier payment, carrying fen; "refused" a copy turned down."""
    rows = []
    for i, a in enumerate(answers):
        t = 10.0 + i / 10
        if a == "refused":
            rows.append(request(t, "open_envelope", user=user, ok=False, refused=True, status=409, attempt=attempt))
        elif isinstance(a, tuple):
            rows.append(request(t, "open_envelope", user=user, error=replay_note(a[1]), attempt=attempt))
        else:
            rows.append(request(t, "open_envelope", user=user, payout_fen=a, attempt=attempt))
    return rows


@pytest.mark.parametrize("answers, status, paid", [
    ((88, ("replay", 88), ("replay", 88)), "pass", 88),  # a true replay repeats the paid answer
    (("refused", ("replay", 88)), "pass", 88),  # the paid answer was lost: the replay is its payment
    ((88, ("replay", 120)), "fail", 208),  # "replayed" with another amount: a new payment
    ((("replay", 88), ("replay", 120)), "fail", 208),  # two replays of nothing, two amounts
])
def test_a_replay_marker_is_held_to_the_paid_copies_of_its_attempt(scenario, answers, status, paid):
    """The target's word that an answer repeats an earlier payment is believed only where it does."""
    verdicts = payout_gate(make_run(healthy_requests() + copies(*answers)), scenario)
    check = key(verdicts, "payout.paid_once")
    assert check.status == status, check
    if status == "fail":
        assert "(marked a replay)" in check.evidence[0].detail
    before = sum(r["payout_fen"] for r in healthy_requests() if r["action"] in PAYOUT_ACTIONS)
    assert Payouts.of(make_run(healthy_requests() + copies(*answers))).paid["payout_fen"].sum() == before + paid


def test_paying_replays_counts_each_amount_not_seen_paid():
    assert paying_replays([88], [88, 88]) == []
    assert paying_replays([], [88, 88]) == [88]
    assert paying_replays([88], [120, 88, 120]) == [120]
    assert paying_replays([], [0, None]) == []  # a replay that carried nothing paid nothing
    assert replayed_fen(replay_note(345)) == 345 and replayed_fen("throttled: slow down") is None
    assert replayed_fen("replayed") == 0  # a note from before replays carried their amount


def test_a_retry_replayed_under_a_new_attempt_is_the_same_payment(scenario):
    """A backend keying idempotency on the participant and prize replays a retry that the harness
    sent as a new attempt: held to the participant's payment for that prize, not a second one."""
    rows = copies(88, attempt="f-1#4") + copies(("replay", 88), attempt="f-1#9")
    assert Payouts.of(make_run(healthy_requests() + rows)).paid["attempt"].tolist().count("f-1#9") == 0
    assert key(payout_gate(make_run(healthy_requests() + rows), scenario), "payout.within_rules").status == "pass"


def test_a_second_payment_marked_a_replay_with_the_same_amount_fails_the_books(scenario):
    """The harness cannot tell it from a true replay by the answers; the books can: they record a
    payment no answer showed. Missing answers leave room for what they may have paid."""
    rows = envelopes(10) + copies(88, ("replay", 88), user="f-1")  # 1,088 fen seen paid
    start = (0.0, "ledger_start", ledger(5_000, {"anhe": {"paid_fen": 5_000}}))
    twice = [start, (99.0, "ledger", ledger(6_176, {"anhe": {"paid_fen": 6_176}}))]
    check = key(payout_gate(make_run(rows, events=twice), scenario), "payout.books_match")
    assert check.status == "fail" and "88 fen paid that no answer showed" in check.evidence[0].detail
    lost = rows + [request(50.0, "open_envelope", user="g-1", ok=False, status=0, error="timed out")]
    assert key(payout_gate(make_run(lost, events=twice), scenario), "payout.books_match").status == "pass"


def test_a_participant_paid_a_prize_more_often_than_the_rules_allow_fails(scenario):
    twice = [request(10.0, "open_envelope", user="u-1", payout_fen=88, attempt="u-1#3"),
             request(50.0, "open_envelope", user="u-1", payout_fen=99, attempt="u-1#9")]
    check = key(payout_gate(make_run(healthy_requests() + twice), scenario), "payout.within_rules")
    assert check.status == "fail" and "u-1: anhe paid 2 times (the rules allow 1)" in check.evidence[0].detail
    refused = [twice[0], request(50.0, "open_envelope", user="u-1", ok=False, refused=True, status=409)]
    assert key(payout_gate(make_run(healthy_requests() + refused), scenario), "payout.within_rules").status == "pass"
    assert key(payout_gate(make_run(healthy_requests()), scenario), "payout.within_rules").status == "unverified"


def test_books_that_record_less_than_was_paid_fail_the_cross_check(scenario):
    rows = envelopes(10)  # 1,000 fen seen paid
    lost = [(0.0, "ledger_start", ledger(5_000, {"anhe": {"paid_fen": 5_000}})),
            (99.0, "ledger", ledger(5_800, {"anhe": {"paid_fen": 5_800}}))]
    check = key(payout_gate(make_run(rows, events=lost), scenario), "payout.books_match")
    assert check.status == "fail" and "the harness saw 1,000 fen paid; the target's books record 800 fen" in \
        check.evidence[0].detail
    same = [(0.0, "ledger_start", ledger(5_000)), (99.0, "ledger", ledger(6_000))]
    assert key(payout_gate(make_run(rows, events=same), scenario), "payout.books_match").status == "pass"


@pytest.mark.parametrize("events, why", [
    ([], "no ledger operation mapped"),
    ([(99.0, "ledger", ledger(6_000))], "not read at the start"),
    ([(0.0, "ledger_start", json.dumps({"paid_twice": 0})), (99.0, "ledger", json.dumps({"paid_twice": 0}))],
     "gives no paid_fen"),
])
def test_books_without_the_figures_are_not_verified_never_read_as_zero(scenario, events, why):
    check = key(payout_gate(make_run(envelopes(3), events=events), scenario), "payout.books_match")
    assert check.status == "unverified" and why in check.evidence[0].detail


@pytest.mark.parametrize("rows, why", [
    ([request(10.0, "open_page")], "no payout was asked for"),
    ([request(10.0, "open_envelope", ok=False, refused=True, status=409)], "none of 1 payout requests was paid"),
    ([request(10.0, "open_envelope", payout_fen=0)], "map each payout action's payout_field"),
])
def test_every_payout_check_is_not_verified_without_a_payout(scenario, rows, why):
    verdicts = payout_gate(make_run(rows, healthy_gauges()), scenario)
    for name in ("never_overdrawn", "no_pool_overdrawn", "paid_once", "within_rules", "books_match", "fraud_share"):
        check = key(verdicts, f"payout.{name}")
        assert check.status == "unverified", name
    assert why in key(verdicts, "payout.no_pool_overdrawn").evidence[0].detail


def test_fraud_taking_too_much_fails(scenario):
    rows = healthy_requests() + [request(60.0 + i, "open_envelope", persona="fraud_script", user=f"f-{i}",
                                         payout_fen=300) for i in range(10)]
    assert status(payout_gate(make_run(rows), scenario), "fraud's share of payouts") == "fail"


def test_a_step_load_does_not_judge_fraud_share_from_seconds_of_each_journey(scenario):
    rows = healthy_requests() + [request(60.0 + i, "open_envelope", persona="fraud_script", user=f"f-{i}",
                                         payout_fen=300) for i in range(10)]
    check = key(payout_gate(make_run(rows, extra={"steps": [100, 200], "step_s": 15.0}), scenario),
                "payout.fraud_share")
    assert check.status == "unverified" and "step load" in check.evidence[0].detail


def test_payout_fails_when_the_alarm_comes_after_the_money_is_gone(scenario):
    budget = scenario.budget.total_fen  # a drain: 1 % of the budget a second, far ahead of plan
    gauges = [dict(t=float(t), active_users=8000, budget_left_fen=budget - t * budget // 100, paid_fen=t * budget // 100)
              for t in range(0, 100, 10)]
    late = payout_gate(make_run(healthy_requests(), gauges, [(95.0, "alarm", "fund-loss ratio 1.30")]), scenario)
    early = payout_gate(make_run(healthy_requests(), gauges, [(5.0, "alarm", "fund-loss ratio 1.30")]), scenario)
    assert status(late, "alarm before the budget goes") == "fail"
    assert status(early, "alarm before the budget goes") == "pass"


def test_spending_as_planned_has_no_alarm_to_judge(scenario):
    plan = scenario.budget.fund_loss.planned_spend_fen * 0.0001  # a trickle, well behind plan
    gauges = [dict(t=3600.0 * h, active_users=8000, paid_fen=int(plan * h)) for h in range(1, 20)]
    verdicts = payout_gate(make_run(healthy_requests(), gauges), scenario)
    assert status(verdicts, "alarm before the budget goes") == "unverified"


def test_fraud_share_needs_a_script_that_asked(scenario):
    assert key(payout_gate(make_run(envelopes(3)), scenario), "payout.fraud_share").status == "unverified"


def test_a_copy_without_an_answer_does_not_make_a_race(scenario):
    rows = [request(10.0, "open_envelope", user="f-1", payout_fen=88, attempt="f-1#4"),
            request(10.0, "open_envelope", user="f-1", ok=False, status=0, error="unanswered", attempt="f-1#4")]
    assert key(payout_gate(make_run(healthy_requests() + rows), scenario), "payout.paid_once").status == "unverified"


def test_a_ledger_without_paid_fen_names_what_it_gave(scenario):
    stock = json.dumps({"gave": ["stock_left"]})
    check = key(payout_gate(make_run(envelopes(3), events=[(0.0, "ledger_start", stock), (99.0, "ledger", stock)]),
                            scenario), "payout.books_match")
    assert check.status == "unverified"
    assert "gives no paid_fen, in all or per pool (it gave: stock_left): map paid_fen" in check.evidence[0].detail


def test_a_budget_race_run_without_its_cut_says_what_it_could_not_show(scenario):
    uncut = [(50.0, "race_uncut", "the target could not cut pool anhe for the budget race (no limit_pool operation, "
                                  "or it refused)")]
    check = key(payout_gate(make_run(envelopes(3), events=uncut), scenario), "payout.no_pool_overdrawn")
    assert check.status == "pass"
    assert any("could not cut pool anhe" in e.detail and "not a pool's last money" in e.detail for e in check.evidence)


def test_a_ledger_mapped_but_failing_is_not_called_unmapped(scenario):
    unread = json.dumps({"gave": [], "unread": True})
    check = key(payout_gate(make_run(envelopes(3), events=[(0.0, "ledger_start", unread), (99.0, "ledger", unread)]),
                            scenario), "payout.books_match")
    assert check.status == "unverified" and "mapped but did not answer with its figures" in check.evidence[0].detail
