"""Each gate on crafted observations: a healthy run passes, and each gate has a run that fails it."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from rehearse.observations import EVENTS, GAUGES, REQUESTS, Run, RunInfo
from rehearse.scenarios.rules import prize_of
from rehearse.judging.gates import LINKS_PER_DOMAIN, all_gates, failover_gate, peak_gate, rules_gate

START = datetime(2026, 12, 20, 2, 0, tzinfo=timezone.utc)


def request(t, action, persona="normal", user="normal-1", ok=True, refused=False, status=200,
            latency_ms=20.0, payout_fen=0, domain="", error="", prize=None, attempt=None):
    return dict(t=t, engine="swarm", persona=persona, user_id=user, action=action, channel="main_venue",
                domain=domain, status=status, ok=ok, refused=refused, latency_ms=latency_ms,
                payout_fen=payout_fen, error=error, prize=prize_of(action, {"institution": "anhe"}) if prize is None
                else prize, attempt=attempt or f"{user}#{t:g}")


def make_run(requests, gauges=(), events=(), scale=1.0, **info_fields) -> Run:
    info = RunInfo(scenario="year_end_red_envelope", scenario_digest="x", engine="swarm", seed=1, scale=scale,
                   versions={}, started_at=START, status="finished", **info_fields)
    frame = pd.DataFrame(list(requests)) if requests else REQUESTS.empty()
    gauge_frame = pd.DataFrame([{c: g.get(c) for c in GAUGES.columns} for g in gauges]) if gauges else GAUGES.empty()
    event_frame = pd.DataFrame(list(events), columns=list(EVENTS.columns)) if events else EVENTS.empty()
    return Run(info=info, requests=REQUESTS.conform(frame, "test"), gauges=GAUGES.conform(gauge_frame, "test"),
               events=EVENTS.conform(event_frame, "test"), rolled_up=False)


def healthy_requests():
    rows = []
    for n in range(20):
        user = f"normal-{n}"
        t = 10.0 + n
        rows += [request(t, "open_page", user=user), request(t + 1, "login", user=user),
                 request(t + 2, "complete_task", user=user), request(t + 3, "complete_task", user=user),
                 request(t + 4, "open_envelope", user=user, payout_fen=100),
                 request(t + 5, "share", user=user, domain="hb1.yearend-wealth.example")]
    rows += [request(50.0, "open_envelope", persona="fraud_script", user="fraud_script-1", ok=False, refused=True,
                     status=403, error="unsigned_request"),
             request(-3600.0, "login", user="preheat_browser-1", persona="preheat_browser", ok=False, refused=True,
                     status=403, error="not_started")]
    return rows


def healthy_gauges(active=8000, left=1000):
    return [dict(t=float(t), active_users=active, rps=10.0, budget_left_fen=left, paid_fen=100 * t,
                 healthy_domains=4, banned_domains=0) for t in range(0, 60, 10)]


def status(verdicts, check):
    return next(v.status for v in verdicts if v.check == check)


def test_a_healthy_run_passes_every_gate(scenario):
    verdicts = all_gates(make_run(healthy_requests(), healthy_gauges()), scenario)
    assert [v for v in verdicts if v.status == "fail"] == []
    assert status(verdicts, "p95 open_envelope") == "pass"
    assert status(verdicts, "no taking part in preheat") == "pass"


def test_peak_fails_on_slow_actions_errors_and_too_few_users(scenario):
    rows = healthy_requests()
    rows += [request(30.0 + i, "open_envelope", latency_ms=4000.0) for i in range(10)]
    rows += [request(40.0 + i, "login", ok=False, status=500, error="HTTP 500") for i in range(5)]
    verdicts = peak_gate(make_run(rows, healthy_gauges(active=7000)), scenario)
    assert status(verdicts, "p95 open_envelope") == "fail"
    assert status(verdicts, "error rate") == "fail"
    assert status(verdicts, "active users served") == "fail"  # 7,000 < 8,000


def test_concurrency_is_measured_never_multiplied(scenario):
    """80 users at 1:100 are not 8,000 users: a scaled live run does not verify the peak."""
    scaled = peak_gate(make_run(healthy_requests(), healthy_gauges(active=80), scale=100), scenario)
    check = next(v for v in scaled if v.key == "peak.active_users")
    assert check.status == "unverified" and "at most 80 active users (1:100)" in check.evidence[0].detail
    real = peak_gate(make_run(healthy_requests(), healthy_gauges(active=8000)), scenario)
    assert status(real, "active users served") == "pass"


def test_failover_fails_when_links_keep_using_a_banned_domain(scenario):
    banned = "hb1.yearend-wealth.example"
    rows = healthy_requests() + [request(400.0 + i * 60, "share", user=f"late-{i}", domain=banned) for i in range(8)]
    events = [(100.0, "ban", f"{banned}: shares 90 > 80 in 3600 s")]
    verdicts = failover_gate(make_run(rows, healthy_gauges(), events), scenario)
    check = next(v for v in verdicts if v.check == f"links off {banned}")
    assert check.status == "fail" and check.figure == pytest.approx(720.0)


def test_failover_fails_when_the_pool_runs_dry_and_visits_are_lost(scenario):
    rows = healthy_requests() + [request(60.0 + i, "visit_link", persona="invitee", user=f"inv-{i}", ok=False,
                                         refused=True, error="link_banned") for i in range(10)]
    events = [(50.0, "ban", "hb1.yearend-wealth.example: visits"), (170.0, "pool_exhausted", "no backup left")]
    verdicts = failover_gate(make_run(rows, healthy_gauges(), events), scenario)
    assert status(verdicts, "backup pool never empty") == "fail"
    assert status(verdicts, "visits lost to bans") == "fail"


def test_a_share_asked_for_after_a_ban_that_gets_no_link_is_an_empty_pool(scenario):
    rows = healthy_requests() + [request(60.0 + i, "share", user=f"late-{i}", ok=False, status=503,
                                         error="no_domain") for i in range(3)]
    verdicts = failover_gate(make_run(rows, healthy_gauges(), [(5.0, "ban", "hb1.yearend-wealth.example: x")]),
                             scenario)
    check = next(v for v in verdicts if v.key == "failover.pool_never_empty")
    assert check.status == "fail" and "no_domain" in check.evidence[0].detail


def test_links_off_a_banned_domain_pass_only_when_enough_links_show_it_gone(scenario):
    banned, other = "hb1.yearend-wealth.example", "hb2.yearend-wealth.example"
    pool = LINKS_PER_DOMAIN * len(scenario.links.primary_domains)
    before = [request(10.0, "share", user="s-0", domain=banned)]
    enough = before + [request(200.0 + i, "share", user=f"s-{i}", domain=other) for i in range(pool)]
    too_few = before + [request(200.0 + i, "share", user=f"s-{i}", domain=other) for i in range(pool - 1)]
    ban = [(100.0, "ban", f"{banned}: shares")]
    assert status(failover_gate(make_run(enough, events=ban), scenario), f"links off {banned}") == "pass"
    assert status(failover_gate(make_run(too_few, events=ban), scenario), f"links off {banned}") == "unverified"
    no_shares = [request(10.0, "open_page")]
    assert status(failover_gate(make_run(no_shares, events=ban), scenario), f"links off {banned}") == "unverified"


def test_failover_with_no_ban_verifies_nothing(scenario):
    verdicts = failover_gate(make_run(healthy_requests(), healthy_gauges()), scenario)
    assert {v.key: v.status for v in verdicts} == {"failover.links_off": "unverified",
                                                   "failover.visits_lost": "unverified",
                                                   "failover.pool_never_empty": "unverified"}


def test_the_rules_gate_fails_on_preheat_leak_unlocked_envelopes_caps_and_flagged_numbers(scenario):
    rows = healthy_requests()
    rows += [request(-600.0, "login", persona="preheat_browser", user="preheat_browser-2")]
    rows += [request(70.0, "open_envelope", persona="fraud_script", user="fraud_script-9", payout_fen=50)]
    rows += [request(80.0 + i, "share", user="sharer-1", domain="hb2.yearend-wealth.example")
             for i in range(scenario.campaign.caps.shares_per_user + 1)]
    rows += [request(90.0, "login", persona="fraud_script", user="fraud_script-3+virtual")]
    verdicts = rules_gate(make_run(rows, healthy_gauges()), scenario)
    assert {v.check for v in verdicts if v.status == "fail"} == {
        "no taking part in preheat", "locked envelopes refused", "share cap held",
        "virtual and blacklisted numbers refused"}


def test_a_short_failover_gap_is_not_an_empty_pool_but_a_long_one_is(scenario):
    def gauges(empty_minutes):
        return [dict(t=60.0 * m, active_users=8000, healthy_domains=0 if 5 <= m < 5 + empty_minutes else 4)
                for m in range(30)]
    ban = [(5.0, "ban", "hb1.yearend-wealth.example: shares")]
    short = failover_gate(make_run(healthy_requests(), gauges(2), ban), scenario)
    long = failover_gate(make_run(healthy_requests(), gauges(10), ban), scenario)
    assert status(short, "backup pool never empty") == "pass"
    assert status(long, "backup pool never empty") == "fail"


def test_checks_without_anything_to_judge_are_not_verified_never_passed(scenario):
    verdicts = all_gates(make_run([request(10.0, "open_page")], healthy_gauges()), scenario)
    assert status(verdicts, "links off banned domains") == "unverified"
    assert status(verdicts, "no taking part in preheat") == "unverified"
    nothing = all_gates(make_run([]), scenario)
    assert {v.status for v in nothing} == {"unverified"}


def test_requests_cut_off_by_the_end_of_a_run_are_not_errors(scenario):
    rows = healthy_requests() + [request(40.0 + i, "open_envelope", ok=False, status=0, latency_ms=9000.0,
                                         error="unanswered") for i in range(20)]
    verdicts = peak_gate(make_run(rows, healthy_gauges()), scenario)
    assert status(verdicts, "error rate") == "pass" and status(verdicts, "p95 open_envelope") == "pass"


def test_peak_with_no_answered_request_or_gauge_verifies_nothing(scenario):
    verdicts = peak_gate(make_run([request(10.0, "open_page", ok=False, status=0, error="unanswered")]), scenario)
    assert {v.key: v.status for v in verdicts} == {"peak.active_users": "unverified", "peak.p95": "unverified",
                                                   "peak.error_rate": "unverified"}


def test_failover_is_judged_on_the_targets_clock(scenario):
    """A target that keeps the wall clock is given real seconds: in a run compressed 120x, links
    on the banned domain 600 campaign seconds after the ban are 5 real seconds."""
    banned, other = "hb1.yearend-wealth.example", "hb2.yearend-wealth.example"
    rows = [request(100.0 + 600.0, "share", user="s-late", domain=banned)]
    rows += [request(800.0 + i, "share", user=f"s-{i}", domain=other) for i in range(60)]
    ban = [(100.0, "ban", f"{banned}: drill")]
    follows = make_run(rows, events=ban, compress=120.0, extra={"target_clock": "campaign"})
    own = make_run(rows, events=ban, compress=120.0, extra={"target_clock": "wall"})
    assert status(failover_gate(follows, scenario), f"links off {banned}") == "fail"
    check = next(v for v in failover_gate(own, scenario) if v.check == f"links off {banned}")
    assert check.status == "pass" and check.figure == pytest.approx(5.0)


def test_a_pass_below_the_peaks_concurrency_is_not_verified_but_a_fail_stands(scenario):
    scaled = peak_gate(make_run(healthy_requests(), healthy_gauges(active=80), scale=100), scenario)
    assert {v.status for v in scaled if v.slug in ("p95", "error_rate")} == {"unverified"}
    slow = healthy_requests() + [request(30.0 + i, "open_envelope", latency_ms=4000.0) for i in range(10)]
    assert status(peak_gate(make_run(slow, healthy_gauges(active=80), scale=100), scenario), "p95 open_envelope") == "fail"


def test_the_harness_own_participants_are_not_the_peaks_load(scenario):
    racers = [request(30.0 + i / 100, "open_envelope", persona="racer", user=f"racer-{i}", latency_ms=5000.0,
                      ok=False, status=503, error="HTTP 503") for i in range(50)]
    verdicts = peak_gate(make_run(healthy_requests() + racers, healthy_gauges()), scenario)
    assert status(verdicts, "p95 open_envelope") == "pass" and status(verdicts, "error rate") == "pass"


def test_a_share_answered_without_a_link_is_an_empty_pool(scenario):
    rows = healthy_requests() + [request(60.0, "share", user="late-1", domain="")]
    verdicts = failover_gate(make_run(rows, healthy_gauges(), [(5.0, "ban", "hb1.yearend-wealth.example: x")]), scenario)
    assert status(verdicts, "backup pool never empty") == "fail"


def test_every_ban_must_be_verified_for_a_required_check(scenario):
    from rehearse.judging.verdicts import missing_evidence

    banned, other = "hb1.yearend-wealth.example", "hb2.yearend-wealth.example"
    rows = [request(200.0 + i, "share", user=f"s-{i}", domain="hb3.yearend-wealth.example") for i in range(60)]
    two = [(100.0, "ban", f"{banned}: x"), (259.0, "ban", f"{other}: y")]  # the second: too few links after it
    # the run went on for 10 minutes after the second ban: time enough, but too few links
    verdicts = failover_gate(make_run(rows, gauges=[{"t": 900.0}], events=two), scenario)
    assert sorted(v.status for v in verdicts if v.slug == "links_off") == ["pass", "unverified"]
    assert [v.key for v in missing_evidence(verdicts, ["failover.links_off"])] == ["failover.links_off"]


def test_a_ban_the_run_ended_within_the_promise_of_is_not_verified_but_not_missing(scenario):
    """A ban 40 s before the run's end (the target may take 300 s): nothing could judge it, so it
    is not verified, yet it is no evidence the run failed to gather; another ban verified stands."""
    from rehearse.judging.verdicts import missing_evidence

    banned, late = "hb1.yearend-wealth.example", "hb2.yearend-wealth.example"
    rows = [request(200.0 + i, "share", user=f"s-{i}", domain="hb3.yearend-wealth.example") for i in range(60)]
    verdicts = failover_gate(make_run(rows, events=[(100.0, "ban", f"{banned}: x"), (259.0, "ban", f"{late}: y")]),
                             scenario)
    late_one = next(v for v in verdicts if v.check == f"links off {late}")
    assert late_one.status == "unverified" and late_one.out_of_time
    assert "less than the 300 s the target may take" in late_one.evidence[-1].detail
    assert missing_evidence(verdicts, ["failover.links_off"]) == []
    only_late = failover_gate(make_run(rows, events=[(259.0, "ban", f"{late}: y")]), scenario)
    assert [v.key for v in missing_evidence(only_late, ["failover.links_off"])] == ["failover.links_off"]
