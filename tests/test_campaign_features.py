"""Features a campaign does not have are not judged: without share links there is no share, no ban
and no failover to judge ("Failover: NOT APPLICABLE"); without a fund-loss alarm, rate limits or
flagged numbers their checks are not applicable; the harness's own participants are never counted
against the participants' caps; a target that shows no alarm cannot fail the alarm check."""

from __future__ import annotations

import json

import pytest

from rehearse.cli.main import main
from rehearse.observations import load_run
from rehearse.judging.answers import launch_answers
from rehearse.judging.gates import all_gates, failover_gate, rules_gate
from rehearse.judging.judge import judge
from rehearse.judging.payout_gate import payout_gate
from rehearse.scenarios import ScenarioError, load_scenario
from stub_backend import Books, serving
from test_gates import healthy_gauges, healthy_requests, make_run, request, status
from test_simulator import SMALL

NO_LINKS = ("links=null", "personas.mix={normal: 0.9, sharer: 0, fraud_script: 0.06, preheat_browser: 0.04}",
            "campaign.invite=null", "budget.invite_fen=null", "drills={}")
PLAIN = (*NO_LINKS, "budget.fund_loss=null", "antifraud.rate_limits=null", "antifraud.virtual_segments=[]",
         "antifraud.blacklist=[]")
SMALL_NO_LINKS = (*[o for o in SMALL if not o.startswith(("links.", "budget.invite_fen", "budget.fund_loss"))],
                  *NO_LINKS)
NOT_APPLICABLE = "the campaign issues no share links (links: is left out)"


def test_a_campaign_without_share_links_offers_no_share_and_judges_no_failover():
    scenario = load_scenario(overrides=NO_LINKS)
    assert "share" not in scenario.actions() and "visit_link" not in scenario.actions()
    assert {k for k, why in scenario.not_applicable().items() if why == NOT_APPLICABLE} == {
        "failover.links_off", "failover.visits_lost", "failover.pool_never_empty", "rules.share_cap"}
    assert not any(key.startswith("failover") for key in scenario.required_checks())
    verdicts = failover_gate(make_run(healthy_requests(), healthy_gauges()), scenario)
    assert {v.status for v in verdicts} == {"not_applicable"} and len(verdicts) == 3


@pytest.mark.parametrize("more, message", [
    (("personas.mix={normal: 0.7, sharer: 0.2, fraud_script: 0.06, preheat_browser: 0.04}",),
     "personas.mix.sharer: 0.2, but the campaign issues no share links"),
    (("campaign.invite={reward: {kind: uniform, min_fen: 100, max_fen: 500}}", "budget.invite_fen=500000"),
     "campaign.invite: friends are invited through share links"),
    (("drills={d: {title: t, window: launch_hour, incidents: [{kind: ban_domains, at: 1m, count: 1}], "
      "expect: [{kind: failover, within: 5m}]}}",), "a ban needs share links"),
])
def test_what_needs_share_links_says_so_in_one_line(more, message):
    with pytest.raises(ScenarioError, match=message):
        load_scenario(overrides=(*NO_LINKS, *more))


def test_a_swarm_asked_to_ban_a_link_of_a_campaign_without_links_is_refused(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["swarm", "--dry-run", "--ban-at", "1m", *[a for o in NO_LINKS for a in ("--set", o)]])
    assert exited.value.code == 2
    assert "--ban-at 1m: the scenario's campaign issues no share links" in capsys.readouterr().err


def test_the_fund_loss_alarm_rate_limits_and_flagged_numbers_are_optional():
    scenario = load_scenario(overrides=PLAIN)
    assert scenario.fund_loss_plan() is None and scenario.antifraud.rate_limits is None
    waived = scenario.not_applicable()
    assert "no fund-loss alarm" in waived["payout.alarm_before_budget"]
    assert "flags no numbers" in waived["rules.flagged_numbers_refused"]
    verdicts = all_gates(make_run(healthy_requests(), healthy_gauges()), scenario)
    assert status(verdicts, "alarm before the budget goes") == "not_applicable"
    assert status(verdicts, "virtual and blacklisted numbers refused") == "not_applicable"


def test_a_campaign_without_links_simulates_and_answers_failover_not_applicable(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--out", str(tmp_path / "sim"), *[a for o in SMALL_NO_LINKS for a in ("--set", o)]])
    assert exited.value.code == 0, capsys.readouterr().err[-800:]
    run = load_run(tmp_path / "sim")
    assert not (run.requests["action"].isin(["share", "visit_link"])).any()
    assert not (run.events["kind"] == "ban").any()
    scenario = load_scenario(overrides=SMALL_NO_LINKS)
    answers = {a.risk: a for a in launch_answers(judge([("simulated", run)], scenario).verdicts)}
    assert answers["Failover"].word == "NOT APPLICABLE" and NOT_APPLICABLE in answers["Failover"].detail


def test_the_harness_own_participants_are_not_held_to_the_share_cap(scenario):
    cap = scenario.campaign.caps.shares_per_user
    probes = [request(80.0 + i, "share", persona="prober", user="harness/prober-000001",
                      domain="hb2.yearend-wealth.example") for i in range(cap + 5)]
    assert status(rules_gate(make_run(healthy_requests() + probes), scenario), "share cap held") == "pass"
    organic = [request(80.0 + i, "share", user="sharer-1", domain="hb2.yearend-wealth.example")
               for i in range(cap + 1)]
    assert status(rules_gate(make_run(healthy_requests() + organic), scenario), "share cap held") == "fail"


def _ahead_of_plan(scenario, levels=None):
    """Gauges of a drain far ahead of plan, with the target's own alarm level if it shows one."""
    budget = scenario.budget.total_fen
    return [dict(t=float(t), active_users=8000, budget_left_fen=budget - t * budget // 100,
                 paid_fen=t * budget // 100, alarm_level=None if levels is None else levels)
            for t in range(0, 100, 10)]


def test_a_target_that_shows_no_alarm_cannot_fail_the_alarm_check_but_one_showing_level_0_does(scenario):
    unseen = payout_gate(make_run(healthy_requests(), _ahead_of_plan(scenario)), scenario)
    assert status(unseen, "alarm before the budget goes") == "unverified"
    check = next(v for v in unseen if v.slug == "alarm_before_budget")
    assert "shows no fund-loss alarm the harness can see" in check.evidence[0].detail
    quiet = payout_gate(make_run(healthy_requests(), _ahead_of_plan(scenario, levels=0)), scenario)
    assert status(quiet, "alarm before the budget goes") == "fail"


@pytest.mark.xdist_group("live")
def test_the_main_job_against_a_target_without_share_links_bans_nothing(tmp_path, capsys):
    sets = [a for o in SMALL_NO_LINKS for a in ("--set", o)]
    with serving(Books()) as url, pytest.raises(SystemExit):
        main(["ci", "--host", url, "--ops-token", "unused", "--out", str(tmp_path / "ci"), "--swarm-duration", "6s",
              *sets, "--set", "gates.peak.target_active_users=20", "--peak-steps", "10,20",
              "--peak-step-duration", "5s"])
    err = capsys.readouterr().err
    assert f"Failover: NOT APPLICABLE (live): {NOT_APPLICABLE}" in err, err[-3000:]
    live = load_run(tmp_path / "ci" / "live")
    assert len(live.requests) and not live.requests["action"].isin(["share", "visit_link"]).any()
    assert not (live.events["kind"] == "ban").any()
    report = json.loads((tmp_path / "ci" / "report" / "report.json").read_text())
    failover = [v for v in report["verdicts"] if v["gate"] == "failover"]
    assert failover and {v["status"] for v in failover} == {"not_applicable"}
    # the flagged numbers at the window's start are a probe, not an incident: the load is judged
    load = next(v for v in report["verdicts"] if v["run"] == "live" and v["key"] == "load.matches_scenario")
    assert load["status"] != "unverified", load


def test_any_check_can_be_advisory_or_off_and_the_answers_say_which(scenario):
    rows = healthy_requests() + [request(90.0, "login", persona="fraud_script", user="fraud_script-3+virtual")]
    run = make_run(rows, healthy_gauges())
    judged = judge([("live", run)], scenario, allow_unverified=True)
    assert any(v.key == "rules.flagged_numbers_refused" and v.status == "fail" for v in judged.verdicts)
    assert judged.exit_code == 1
    advised = load_scenario(overrides=["gates.advisory=[rules.flagged_numbers_refused]"])
    judged = judge([("live", run)], advised, allow_unverified=True)
    flagged = next(v for v in judged.verdicts if v.key == "rules.flagged_numbers_refused")
    assert flagged.status == "fail" and flagged.advisory and flagged.word == "FAIL (advisory)"
    assert judged.tally.failed == 0 and judged.tally.advisory_failed == 1 and judged.exit_code == 0
    assert "1 advisory failed (not failing)" in judged.tally.headline
    fraud = next(a for a in launch_answers(judged.verdicts) if a.risk == "Fraud")
    assert fraud.word != "FAIL" and "advisory, not failing: virtual and blacklisted numbers refused" in fraud.detail
    off = load_scenario(overrides=["gates.off=[rules.flagged_numbers_refused, failover]",
                                   "gates.required=[peak, payout]"])
    judged = judge([("live", run)], off, allow_unverified=True)
    assert {v.status for v in judged.verdicts if v.key == "rules.flagged_numbers_refused"} == {"off"}
    assert {v.status for v in judged.verdicts if v.gate == "failover"} == {"off"} and judged.exit_code == 0
    answers = {a.risk: a for a in launch_answers(judged.verdicts)}
    assert answers["Failover"].word == "OFF" and "gates.off" in answers["Failover"].detail


def test_an_advisory_check_left_unverified_is_not_required_even_in_a_required_gate(scenario):
    run = make_run(healthy_requests(), healthy_gauges())  # no ban: the failover checks are not verified
    strict = judge([("live", run)], scenario)
    assert any(v.key.startswith("failover.") for v in strict.tally.required_unverified)
    lenient = judge([("live", run)], load_scenario(overrides=["gates.required=[failover, peak]",
                                                              "gates.advisory=[failover.links_off]"]))
    assert not any(v.key == "failover.links_off" for v in lenient.tally.required_unverified)
    assert any(v.key == "failover.visits_lost" for v in lenient.tally.required_unverified)


def test_a_check_given_two_settings_is_refused():
    with pytest.raises(ScenarioError, match="gates.off: payout.fraud_share is also in gates.advisory"):
        load_scenario(overrides=["gates.advisory=[payout.fraud_share]", "gates.off=[payout.fraud_share]"])


def test_only_advisory_failures_never_answer_pass(scenario):
    rows = healthy_requests() + [request(90.0, "login", persona="fraud_script", user="fraud_script-3+virtual")]
    advised = load_scenario(overrides=["gates.advisory=[rules.flagged_numbers_refused]", "gates.off=[payout.fraud_share]"])
    fraud = next(a for a in launch_answers(judge([("live", make_run(rows, healthy_gauges()))], advised,
                                                 allow_unverified=True).verdicts) if a.risk == "Fraud")
    assert fraud.word == "FAIL (advisory)" and "fraud_script-3+virtual logged in" in fraud.detail, fraud.line


def test_a_gate_turned_off_wins_over_the_default_required_list_but_not_over_a_written_one():
    off = load_scenario(overrides=["gates.off=[peak]"])
    assert off.gates.setting("peak.active_users") == "off" and not off.requires("peak.p95")
    with pytest.raises(ScenarioError, match="gates.advisory: peak.p95 is also in gates.required"):
        load_scenario(overrides=["gates.required=[peak.p95, payout]", "gates.advisory=[peak]"])


def test_a_required_gate_stands_for_each_of_its_checks():
    from rehearse.judging.verdicts import missing_evidence

    missing = {v.key for v in missing_evidence([], ["failover"])}
    assert missing == {"failover.links_off", "failover.visits_lost", "failover.pool_never_empty"}


def test_a_failover_phase_is_never_cut_shorter_than_the_promise(tmp_path):
    from rehearse.rehearsal.spec import RehearsalInputs, _failover_phase

    short = load_scenario(overrides=["traffic.windows.launch_hour.duration=2m", "drills={}"])
    inputs = RehearsalInputs(out=tmp_path, overrides=("traffic.windows.launch_hour.duration=2m", "drills={}"),
                             host="http://127.0.0.1:9", target_wait_s=0.0)
    phase, why = _failover_phase(short, inputs, {"job": "job"})
    assert phase is None and "shorter than the failover promise" in why
