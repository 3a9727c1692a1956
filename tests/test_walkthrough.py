"""Walkthroughs: the rules oracle, the judge, and whole walkthroughs against the live reference
backend (healthy, and with the faults a walkthrough alone must catch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearse.cli.main import main
from rehearse.observations import load_run
from rehearse.personas.identity import IdentityFactory
from rehearse.personas.steps import Act, replay_note
from rehearse.scenarios.rules import ParticipantRules
from rehearse.walkthrough.cast import WALKTHROUGH_PERSONAS, cast, complete_funnel
from rehearse.walkthrough.engine import Copy, Participant, judge
from rehearse.walkthrough.run import WalkthroughRequest, run_walkthrough
from rehearse.reference_backend.service import Settings

# the walkthroughs race a live backend (double taps): one live test at a time (see pyproject)
pytestmark = pytest.mark.xdist_group("live")

PAID = Copy(ok=True, refused=False, status=200, payout_fen=88)
REFUSED = Copy(ok=False, refused=True, status=409, error="already_claimed")
SLOW = Copy(ok=False, refused=True, status=429, error="rate_limited")
BROKEN = Copy(ok=False, refused=False, status=500, error="HTTP 500")


def member(scenario, persona: str = "normal") -> Participant:
    user = IdentityFactory(scenario, 1).new(persona)
    return Participant("Normal participant", user, 1, rules=ParticipantRules(scenario, user.phone))


def unlocked(scenario, who: Participant, institution: str = "anhe") -> None:
    who.rules.settle("open_page", {})
    who.rules.settle("login", {})
    for task in scenario.campaign.institution(institution).tasks:
        who.rules.settle("complete_task", {"institution": institution, "task": task.id})


def test_rules_follow_the_scenario(scenario):
    rules = ParticipantRules(scenario, "13912345678")
    assert rules.refusal("login", {}, t=-3600).id == "preheat"
    assert rules.refusal("open_page", {}, t=-3600) is None
    assert rules.refusal("complete_task", {"institution": "anhe", "task": "watch_live"}, t=10).id == "login"
    rules.settle("login", {})
    assert rules.refusal("open_envelope", {"institution": "anhe"}, t=10).id == "signed_payouts"
    rules.settle("open_page", {})
    assert rules.refusal("open_envelope", {"institution": "anhe"}, t=10).id == "envelope_locked"
    assert rules.refusal("grand_draw", {}, t=10).id == "grand_round"
    assert rules.refusal("open_invite_envelope", {}, t=10).id == "invite_reward"
    rules.friends = scenario.campaign.invite.friends_required
    assert rules.refusal("open_invite_envelope", {}, t=10) is None
    virtual = ParticipantRules(scenario, scenario.antifraud.virtual_segments[0] + "12345678")
    assert virtual.refusal("login", {}, t=10).id == "virtual_number"
    assert ParticipantRules(scenario, scenario.antifraud.blacklist[0]).refusal("login", {}, t=10).id == "blacklist"


def test_judge_flags_a_double_tap_paid_twice_and_names_the_rule(scenario):
    who = member(scenario)
    unlocked(scenario, who)
    tap = Act("open_envelope", institution="anhe", burst=2)
    report = judge(10.0, who, tap, [PAID, PAID])
    assert report.mismatch.rule.id == "one_envelope" and "2 of 2" in report.mismatch.what
    again = judge(20.0, who, Act("open_envelope", institution="anhe"), [REFUSED])
    assert again.mismatch is None and again.rule.id == "one_envelope"


def test_judge_accepts_one_paid_copy_and_rate_limits_but_not_failures_or_wrong_refusals(scenario):
    who = member(scenario)
    unlocked(scenario, who)
    assert judge(10.0, who, Act("open_envelope", institution="anhe", burst=2), [PAID, REFUSED]).mismatch is None
    unlocked(scenario, who, "beichen")
    beichen = Act("open_envelope", institution="beichen")
    assert judge(11.0, who, beichen, [SLOW]).mismatch is None
    assert judge(12.0, who, beichen, [BROKEN]).mismatch.rule.id == "answers"
    assert judge(13.0, who, beichen, [REFUSED]).mismatch.rule.id == "allowed"


def test_the_cast_shows_every_rule_a_persona_meets(scenario):
    walk = complete_funnel(scenario)
    groups = cast(walk, list(WALKTHROUGH_PERSONAS), 0.0, 7)
    titles = [g.title for g in groups]
    assert titles[0] == "Normal participant" and titles[-1] == "Preheat browser"
    assert sum(t.startswith("Fraud script") for t in titles) == 3
    phones = [g.participants[0].user.phone for g in groups]
    assert len(set(phones)) == len(phones)  # nobody shares an account
    assert groups[-1].participants[0].start_t < 0  # the preheat browser comes in the preheat


def walk(scenario, tmp_path: Path, faults: tuple[str, ...] = (), personas=WALKTHROUGH_PERSONAS, at: float = 0.0):
    request = WalkthroughRequest(scenario=scenario, personas=list(personas), at=at, run_dir=tmp_path / "walk",
                                 seed=7, faults=frozenset(faults),
                                 backend_settings=Settings(payment_latency_s=0.05))  # a race a busy machine still loses
    return run_walkthrough(request)


def rules_broken(result) -> set[str]:
    return {r.mismatch.rule.id for p in result.played for r in p.mismatches}


def test_healthy_backend_every_persona_completes_with_no_mismatch(scenario, tmp_path):
    result = walk(scenario, tmp_path)
    assert result.mismatches == 0, [(r.who.label, r.act, r.mismatch) for p in result.played for r in p.mismatches]
    by_title = {p.title: p for p in result.played}
    done = {title: {r.act.action for r in p.reports if r.done} for title, p in by_title.items()}
    assert "grand_draw" in done["Normal participant"]
    assert {"share", "open_invite_envelope"} <= done["Sharer"]
    assert any(r.who.label.startswith("Friend") for r in by_title["Sharer"].reports)
    assert "login" not in done["Fraud script (on a virtual-operator number)"]
    assert not any(r.paid_fen for title, p in by_title.items() if title.startswith("Fraud") for r in p.reports)
    assert "login" in done["Preheat browser"]
    run = load_run(tmp_path / "walk")
    assert run.info.engine == "walkthrough" and run.info.status == "finished"
    assert len(run.requests) == sum(len(r.copies) for p in result.played for r in p.reports)
    text = (tmp_path / "walk" / "walkthrough.md").read_text()
    assert "## Sharer" in text and "0 mismatches" in text and "Friend 1 of the sharer" in text


@pytest.mark.parametrize("fault, rules", [
    ("preheat-leak", {"preheat"}),
    ("no-antifraud", {"virtual_number", "blacklist", "signed_payouts"}),
    ("double-pay", {"one_envelope"}),
])
def test_a_walkthrough_alone_catches_a_broken_rule(scenario, tmp_path, fault, rules):
    personas = {"preheat-leak": ["preheat_browser"], "no-antifraud": ["fraud_script"],
                "double-pay": ["normal"]}[fault]
    result = walk(scenario, tmp_path, (fault,), personas)
    assert rules <= rules_broken(result)
    text = (tmp_path / "walk" / "walkthrough.md").read_text()
    assert "MISMATCH" in text and "Mismatches by rule" in text


def test_walkthrough_at_the_preheat_is_refused_everything_but_looking(scenario, tmp_path):
    result = walk(scenario, tmp_path, personas=["normal"], at=-2 * 86400)
    reports = result.played[0].reports
    assert result.mismatches == 0
    assert [r.act.action for r in reports if r.done] == ["open_page"]
    assert reports[-1].rule.id == "preheat"


def test_cli_exit_codes_and_stepping(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as bad:
        main(["walkthrough", "--persona", "ghost"])
    assert bad.value.code == 2
    assert "--persona ghost" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad_at:
        main(["walkthrough", "--at", "someday"])
    assert bad_at.value.code == 2
    presses = []
    monkeypatch.setattr("rich.console.Console.input", lambda self, prompt="": presses.append(prompt) or "")
    with pytest.raises(SystemExit) as failed:
        main(["walkthrough", "--persona", "preheat_browser", "--step", "--fault", "preheat-leak",
              "--out", str(tmp_path / "w")])
    out = capsys.readouterr().out
    assert failed.value.code == 1 and "preheat" in out and "FAIL" in out
    assert len(presses) == len(load_run(tmp_path / "w").requests.groupby(["t", "action"]))


def test_judge_holds_a_replay_marker_to_the_paid_copy(scenario):
    """A "replay" carrying another amount than the paid copy is a second payment, whatever the
    target calls it; a replay whose paid copy's answer was lost is the one payment."""
    who = member(scenario)
    unlocked(scenario, who)
    tap = Act("open_envelope", institution="anhe", burst=2)
    other = Copy(ok=True, refused=False, status=200, error=replay_note(PAID.payout_fen + 1))
    step = judge(10.0, who, tap, [PAID, other])
    assert step.mismatch is not None and step.done == 2 and step.paid_fen == 2 * PAID.payout_fen + 1
    unlocked(scenario, who, "beichen")
    lost = Copy(ok=False, refused=False, status=0, error="timed out")
    alone = Copy(ok=True, refused=False, status=200, error=replay_note(PAID.payout_fen))
    step = judge(11.0, who, Act("open_envelope", institution="beichen", burst=2), [lost, alone])
    assert step.done == 1 and step.paid_fen == PAID.payout_fen


def test_judge_counts_an_idempotent_replay_once_and_a_throttled_business_code_as_a_rate_limit(scenario):
    who = member(scenario)
    unlocked(scenario, who)
    replay = Copy(ok=True, refused=False, status=200, error=replay_note(PAID.payout_fen))
    tap = Act("open_envelope", institution="anhe", burst=2)
    assert judge(10.0, who, tap, [PAID, replay]).mismatch is None
    unlocked(scenario, who, "beichen")
    throttled = Copy(ok=False, refused=True, status=200, error="throttled: slow down")
    assert judge(11.0, who, Act("open_envelope", institution="beichen"), [throttled]).mismatch is None
