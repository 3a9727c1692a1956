"""A rehearsal's verdict has three states (judging/verdicts.py `Tally`): FAIL when a check failed;
INCONCLUSIVE when none failed but a required check was not verified or a run did not finish, with
what would make it conclusive; PASS otherwise. Each with its exit code, in every report format."""

from __future__ import annotations

import json
from dataclasses import replace

from rehearse.judging.verdicts import Evidence, judged, tally, unverified
from rehearse.reports.json_report import report_json
from rehearse.reports.markdown import render_markdown

PASSED = replace(judged("peak", "p95 open_envelope", 80.0, 800.0, "ms", True, [Evidence(1.0, "fast")]), run="live")
FAILED = replace(judged("payout", "no attempt paid twice", 2.0, 0.0, "attempts", False, [Evidence(2.0, "twice")],
                        "paid_once"), run="live")
OPEN = replace(unverified("failover", "links off banned domains", "no domain was banned in this run", "links_off",
                          to_verify="a run with a domain ban in it"), run="live")
OPEN_TOO = replace(unverified("failover", "visits lost to bans", "no domain was banned in this run", "visits_lost",
                              to_verify="a run with a domain ban in it"), run="live")
PLAIN_OPEN = replace(unverified("payout", "prizes within the rules", "nothing tested them", "within_rules"), run="live")


def test_every_check_passed_is_pass_with_exit_0():
    t = tally([PASSED])
    assert (t.outcome, t.word, t.exit_code, t.ok) == ("pass", "PASS", 0, True)
    assert t.headline.startswith("PASS: 1 passed; 0 failed; 0 not verified") and t.to_conclude == ()


def test_a_failed_check_is_fail_whatever_else_is_open():
    t = tally([PASSED, FAILED, OPEN], missing=[OPEN], interrupted=["live was interrupted after 8 s"])
    assert (t.outcome, t.exit_code, t.ok) == ("fail", 1, False) and t.headline.startswith("FAIL: ")


def test_a_required_check_not_verified_is_inconclusive_and_says_what_would_verify_it():
    t = tally([PASSED, OPEN, OPEN_TOO, PLAIN_OPEN], missing=[OPEN, OPEN_TOO, PLAIN_OPEN])
    assert (t.outcome, t.word, t.exit_code, t.ok) == ("inconclusive", "INCONCLUSIVE", 3, False)
    assert t.headline.startswith("INCONCLUSIVE: 1 passed; 0 failed; 3 not verified; 3 required check(s) not verified")
    # one line per remedy, naming every check it would verify; without a remedy, why it was not
    assert t.to_conclude == (
        "live: failover.links_off, failover.visits_lost: a run with a domain ban in it",
        "live: payout.within_rules: nothing tested them: a run against the target that can judge it")


def test_an_unfinished_run_with_nothing_failed_is_inconclusive_never_a_failure():
    t = tally([PASSED], interrupted=["live was interrupted after 8 s of 30 s: judge a finished run"])
    assert (t.outcome, t.exit_code) == ("inconclusive", 3)
    assert t.to_conclude == ("live was interrupted after 8 s of 30 s: judge a finished run",)


def test_an_advisory_failure_does_not_fail_and_does_not_conclude():
    advisory = replace(FAILED, advisory=True)
    assert tally([PASSED, advisory]).outcome == "pass"
    assert tally([PASSED, advisory, OPEN], missing=[OPEN]).outcome == "inconclusive"


def test_the_reports_lead_with_the_verdict_and_what_would_make_it_conclusive():
    verdicts = [PASSED, OPEN]
    t = tally(verdicts, missing=[OPEN])
    md = render_markdown([], verdicts, judged=t)
    assert md.startswith("## Capacity report: INCONCLUSIVE\n")
    assert md.index("To make it conclusive:") < md.index("- **Peak")
    assert "- live: failover.links_off: a run with a domain ban in it" in md
    data = report_json([], verdicts, judged=t)
    assert list(data)[:5] == ["verdict", "passed", "exit_code", "headline", "to_conclude"]
    assert (data["verdict"], data["exit_code"], data["to_conclude"]) == (
        "inconclusive", 3, ["live: failover.links_off: a run with a domain ban in it"])
    json.dumps(data)
    assert report_json([], [PASSED, FAILED])["verdict"] == "fail"
