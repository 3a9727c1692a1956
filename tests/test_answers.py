"""The answers (peak, failover, budget, fraud) read from the verdicts: live first, a simulated run
only as a labelled prediction, and never a PASS for a risk nothing verified."""

from __future__ import annotations

from dataclasses import replace

from rehearse.judging.answers import launch_answers
from rehearse.judging.verdicts import Evidence, judged, unverified


def live(v):
    return replace(v, run="live", engine="swarm")


def test_each_risk_is_answered_from_the_live_run():
    verdicts = [live(judged("peak", "active users served", 8000, 8000, "users", True, slug="active_users")),
                live(judged("peak", "p95 login", 80, 800, "ms", True, slug="p95")),
                live(judged("peak", "error rate", 0.001, 0.01, "share", True, slug="error_rate")),
                live(judged("failover", "links off hb2.example", 2444, 300, "s", False,
                            [Evidence(100, "hb2.example banned")], slug="links_off")),
                live(judged("payout", "no pool overdrawn", 0, 0, "pools", True, slug="no_pool_overdrawn")),
                live(judged("payout", "no attempt paid twice", 0, 0, "attempts", True, slug="paid_once")),
                replace(judged("failover", "links off hb3.example", 20, 300, "s", True, slug="links_off"),
                        run="runs/sim-0412", engine="simulator")]
    peak, failover, budget, _ = launch_answers(verdicts)
    assert peak.line == ("Peak: PASS (live): 8,000 active users against 8,000; p95 within its SLO for 1 actions; "
                         "errors 0.10%")
    assert failover.line == "Failover: FAIL (live): hb2.example still issued 2,444 s after its ban (promise 300 s)"
    assert budget.line == "Budget: PASS (live): no pool overdrawn; no attempt paid twice"


def test_nothing_verified_is_never_a_pass_and_a_simulation_is_labelled():
    verdicts = [live(unverified("peak", "active users served", "the target saw at most 80 active users (1:100)",
                                "active_users")),
                live(unverified("failover", "links off banned domains", "no domain was banned", "links_off")),
                live(unverified("failover", "backup pool never empty", "no domain was banned", "pool_never_empty")),
                replace(judged("payout", "no pool overdrawn", 0, 0, "pools", True, slug="no_pool_overdrawn"),
                        run="runs/sim-0412", engine="simulator")]
    peak, failover, budget, _ = launch_answers(verdicts)
    assert (peak.word, failover.word) == ("NOT VERIFIED", "NOT VERIFIED")
    assert "at most 80 active users" in peak.detail and "no domain was banned" in failover.detail
    assert (budget.word, budget.source) == ("PASS", "simulated: a prediction")


def test_fraud_is_the_fourth_answer():
    """A backend that lets virtual-number scripts log in fails Fraud, whatever the other answers say."""
    let_in = live(judged("rules", "virtual and blacklisted numbers refused", 28, 0, "logins", False,
                         [Evidence(60, "fraud_script-000001+virtual logged in")], slug="flagged_numbers_refused"))
    share = live(judged("payout", "fraud's share of payouts", 0.01, 0.02, "share", True,
                        [Evidence(None, "1.00 yuan of 100.00 yuan to fraud scripts")], slug="fraud_share"))
    *_, fraud = launch_answers([let_in, share])
    assert fraud.line == ("Fraud: FAIL (live): virtual and blacklisted numbers refused: fraud_script-000001+virtual "
                          "logged in")
    refused = replace(let_in, status="pass", evidence=(Evidence(None, "12 logins of flagged numbers, all refused"),))
    *_, fraud = launch_answers([refused, share])
    assert fraud.line == ("Fraud: PASS (live): 12 logins of flagged numbers, all refused; 1.00 yuan of 100.00 yuan "
                          "to fraud scripts")
    *_, fraud = launch_answers([])
    assert fraud.word == "NOT VERIFIED"


def test_fraud_without_flagged_numbers_is_answered_by_the_run_that_judged_the_scripts_share():
    from rehearse.judging.verdicts import not_applicable

    flags = "the campaign flags no numbers"
    verdicts = [replace(not_applicable("rules", "virtual and blacklisted numbers refused", flags,
                                       "flagged_numbers_refused"), run=run, engine="swarm") for run in ("peak", "live")]
    verdicts += [replace(unverified("payout", "fraud's share of payouts", "a step load plays the fastest personas",
                                    "fraud_share"), run="peak", engine="swarm"),
                 live(judged("payout", "fraud's share of payouts", 0.02, 0.05, "share", True,
                             [Evidence(None, "2.00 yuan of 100.00 yuan to fraud scripts")], slug="fraud_share"))]
    fraud = launch_answers(verdicts)[3]
    assert fraud.word == "PASS" and "to fraud scripts" in fraud.detail, fraud.line


def test_a_check_another_run_judged_does_not_hold_the_answer_open():
    peak = [replace(judged("rules", "virtual and blacklisted numbers refused", 0, 0, "logins", True,
                           slug="flagged_numbers_refused"), run="peak", engine="swarm"),
            replace(unverified("payout", "fraud's share of payouts", "a step load", "fraud_share"), run="peak",
                    engine="swarm")]
    window = [live(judged("rules", "virtual and blacklisted numbers refused", 0, 0, "logins", True,
                          slug="flagged_numbers_refused")),
              live(judged("payout", "fraud's share of payouts", 0.0, 0.05, "share", True, slug="fraud_share"))]
    assert launch_answers(peak + window)[3].word == "PASS"
