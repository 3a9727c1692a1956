"""A campaign shaped like its backend: no preheat, no grand round, no invite reward, no account to
follow, institutions without tasks (tests/scenarios/no_extras.yaml). It validates; nothing plays,
judges or requires what it leaves out; what is left out by mistake is one clear line."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from rehearse.cli.main import main
from rehearse.observations import load_run
from rehearse.personas.journeys import journey_for
from rehearse.personas.steps import Act, Outcome, Spawn
from rehearse.judging.judge import judge
from rehearse.scenarios import load_scenario
from rehearse.scenarios.rules import prizes_allowed
from rehearse.scenarios.target import ACTIONS
from rehearse.personas.identity import IdentityFactory
from rehearse.simulator.journeys import build_library
from rehearse.walkthrough.cast import cast, complete_funnel, shows_the_rules, walkthrough_personas
from rehearse.walkthrough.engine import Walkthrough
from rehearse.walkthrough.targets import RulesTarget

NO_EXTRAS = Path(__file__).parent / "scenarios" / "no_extras.yaml"
TEXT = NO_EXTRAS.read_text(encoding="utf-8")
LEFT_OUT = {"grand_draw", "open_invite_envelope", "follow"}
INSTITUTIONS = ["anhe", "beichen", "chunhui"]
NO_TASKS_AT_ALL = "campaign.institutions.1.tasks=[]"  # beichen's one task gone: every envelope is open


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(NO_EXTRAS)


def test_it_validates_and_offers_only_what_it_has(scenario):
    campaign = scenario.campaign
    assert campaign.grand_round is None and campaign.invite is None and campaign.follow is None
    assert not campaign.phases.has_preheat and campaign.phases.preheat_s == 0
    assert set(campaign.actions()) == set(ACTIONS) - LEFT_OUT
    assert list(scenario.pool_budgets()) == INSTITUTIONS
    assert scenario.budget.total_fen == 3000000 + 2500000 + 5000000
    assert prizes_allowed(scenario) == {"anhe": 1, "beichen": 1, "chunhui": 1}
    assert scenario.not_applicable() == {"rules.preheat_closed": "the campaign has no preheat"}
    assert "rules.preheat_closed" not in scenario.required_checks()
    assert "rules.envelopes_locked" in scenario.required_checks()  # beichen has a task


def test_without_any_task_the_lock_check_is_not_applicable():
    bare = load_scenario(NO_EXTRAS, [NO_TASKS_AT_ALL])
    assert "complete_task" not in bare.campaign.actions()
    assert set(bare.not_applicable()) == {"rules.preheat_closed", "rules.envelopes_locked"}


def test_the_bundled_campaign_keeps_every_feature():
    bundled = load_scenario()
    assert bundled.campaign.actions() == ACTIONS
    assert list(bundled.pool_budgets())[-2:] == ["grand", "invite"]
    assert bundled.not_applicable() == {}
    assert bundled.required_checks() == bundled.gates.required


def _answer(act: Act, shares: list[int]) -> Outcome:
    """Every action works: logins hand out a code, shares a link."""
    if act.action == "login":
        return Outcome(ok=True, status=200, data={"invite_code": "code-x", "token": "t"})
    if act.action == "share":
        shares.append(1)
        return Outcome(ok=True, status=200, data={"share_url": f"https://hb1.yearend-wealth.example/s/{len(shares)}"})
    return Outcome(ok=True, status=200, payout_fen=88 if act.action == "open_envelope" else 0)


def _played(scenario, identities: IdentityFactory, persona: str, seed: int) -> tuple[list[Act], int]:
    """The actions of one journey where everything works, and the invitees it spawned."""
    user = identities.new(persona, 0.0)
    journey, outcome, acts, shares, spawned = journey_for(user, scenario, random.Random(seed)), None, [], [], 0
    for _ in range(5000):
        try:
            step = next(journey) if outcome is None else journey.send(outcome)
        except StopIteration:
            return acts, spawned
        if isinstance(step, Act):
            acts.append(step)
            outcome = _answer(step, shares)
        else:
            spawned += isinstance(step, Spawn)
            outcome = Outcome(ok=True)
    raise AssertionError("an unbounded journey")


@pytest.mark.parametrize("persona", ["normal", "sharer", "fraud_script"])
def test_personas_never_ask_for_what_the_campaign_leaves_out(scenario, persona):
    bare = load_scenario(NO_EXTRAS, [NO_TASKS_AT_ALL])
    identities = {id(c): IdentityFactory(c, 1) for c in (scenario, bare)}
    seen: set[str] = set()
    for seed in range(300):
        for campaign in (scenario, bare):
            acts, _ = _played(campaign, identities[id(campaign)], persona, seed)
            seen |= {a.action for a in acts}
            assert not {a.action for a in acts} & LEFT_OUT, (persona, seed)
            if campaign is bare:
                assert not any(a.action == "complete_task" for a in acts)
    assert "open_envelope" in seen


def test_sharers_still_share_and_bring_friends(scenario):
    identities = IdentityFactory(scenario, 1)
    spawned = [_played(scenario, identities, "sharer", seed)[1] for seed in range(100)]
    assert sum(spawned) > 50


def test_the_simulator_libraries_hold_no_left_out_action(scenario):
    codes = {ACTIONS.index(a) for a in LEFT_OUT}
    for n, persona in enumerate(("normal", "sharer", "fraud_script", "invitee")):
        library = build_library(scenario, persona, 300, seed=n)
        assert not codes & set(library.action.tolist()), persona


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "run"
    with pytest.raises(SystemExit) as exited:
        main(["simulate", str(NO_EXTRAS), "--out", str(out)])
    assert exited.value.code == 0
    return load_run(out)


def test_a_simulation_pays_only_the_institutions_pools(simulated):
    q = simulated.requests
    assert set(q["prize"]) <= {"", *INSTITUTIONS}
    assert not set(q["action"]) & LEFT_OUT
    assert set(q["persona"]) <= {"normal", "sharer", "fraud_script", "invitee"}
    assert q.loc[q["action"] == "open_envelope", "payout_fen"].sum() > 0


def test_its_gates_mark_the_preheat_check_not_applicable_and_drop_it_from_required(scenario, simulated):
    judgement = judge([("simulated", simulated)], scenario)
    by_key = {v.key: v for v in judgement.verdicts}
    preheat = by_key["rules.preheat_closed"]
    assert (preheat.status, preheat.word, preheat.evidence[0].detail) == (
        "not_applicable", "not applicable", "the campaign has no preheat")
    assert by_key["payout.no_pool_overdrawn"].evidence[0].detail.startswith("3 pools paid from")
    assert judgement.tally.not_applicable == 1 and judgement.tally.waived == ("rules.preheat_closed",)
    assert ("1 not applicable; required but not applicable to this campaign, so not required: "
            "rules.preheat_closed") in judgement.tally.headline
    bare = load_scenario(NO_EXTRAS, [NO_TASKS_AT_ALL])
    statuses = {v.key: v.status for v in judge([("simulated", simulated)], bare).verdicts}
    assert statuses["rules.envelopes_locked"] == "not_applicable"


def test_the_walkthrough_against_the_rules_shows_no_left_out_feature(scenario):
    walked = complete_funnel(scenario)
    assert walkthrough_personas(walked) == ("normal", "sharer", "fraud_script")
    for group in cast(walked, list(walkthrough_personas(walked)), 0.0, walked.seed):
        reports = Walkthrough(walked, RulesTarget(walked), group.identities).play(group.participants)
        assert reports and shows_the_rules(walked, group.persona)(reports), group.title
        assert not [r for r in reports if r.mismatch is not None], group.title
        assert not {r.act.action for r in reports} & LEFT_OUT
        assert not [r for r in reports if r.rule is not None and r.rule.id == "not_offered"]


def _edit(old: str, new: str) -> str:
    assert TEXT.count(old) == 1, f"no_extras.yaml no longer has exactly one {old!r}"
    return TEXT.replace(old, new)


BUDGET = "  institutions_fen: {anhe: 3000000, beichen: 2500000, chunhui: 5000000}"
REQUIRED = "  required: [peak, failover, payout, rules.preheat_closed, rules.envelopes_locked, rules.share_cap]\n"
MIX = "  mix: {normal: 0.7, sharer: 0.22, fraud_script: 0.08}"
ERRORS = {
    "a grand-round pool without a grand round": (
        (BUDGET, BUDGET + "\n  grand_round_fen: 1000"),
        "budget.grand_round_fen: the campaign has no campaign.grand_round, so there is no such pool; "
        "remove budget.grand_round_fen, or add campaign.grand_round"),
    "an invite pool without an invite reward": (
        (BUDGET, BUDGET + "\n  invite_fen: 0"),
        "budget.invite_fen: the campaign has no campaign.invite, so there is no such pool"),
    "an invite reward without its pool": (
        ("  caps:\n", "  invite: {reward: {kind: uniform, min_fen: 1, max_fen: 5}}\n  caps:\n"),
        "budget.invite_fen: missing value: the campaign has campaign.invite, so its pool needs a budget"),
    "preheat browsers without a preheat": (
        (MIX, "  mix: {normal: 0.6, sharer: 0.22, fraud_script: 0.08, preheat_browser: 0.1}"),
        "personas.mix.preheat_browser: 0.1, but the campaign has no preheat (campaign.phases.preheat_start "
        "is left out); remove preheat_browser from the mix"),
    "preheat visitors without a preheat": (
        ("  participants_total: 20000", "  participants_total: 20000\n  preheat_visitors: 500"),
        "traffic.preheat_visitors: 500, but the campaign has no preheat"),
    "an offered action the target cannot send": (
        ("    view_rules: {method: GET, path: /api/rules}\n", ""),
        "target.actions: no request mapped for view_rules (the campaign offers it)"),
    "an offered action the backend model has no queue for": (
        ("    share: {service_time: 6ms, concurrency: 200}\n", ""),
        "backend_model.actions: no queue for share (the campaign offers it)"),
    "a drill slowing down a grand draw there is none of": (
        (REQUIRED, REQUIRED + "drills:\n  slow:\n    title: t\n    window: launch_hour\n"
                             "    incidents: [{kind: slowdown, at: 1m, actions: [grand_draw], factor: 5, duration: 5m}]\n"
                             "    expect: [{kind: recovery, within: 5m}]\n"),
        "drills.slow.incidents.0.actions: grand_draw is not offered (the campaign has no grand round)"),
}


@pytest.mark.parametrize("case", ERRORS, ids=list(ERRORS))
def test_a_left_out_feature_named_elsewhere_is_one_clear_line(case, tmp_path, capsys):
    (old, new), expected = ERRORS[case]
    path = tmp_path / "bad.yaml"
    path.write_text(_edit(old, new), encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["scenario", "validate", str(path)])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.count("\n") == 1 and err.startswith(f"rehearse: error: {path}:"), err
    assert expected in err, err


def test_the_bundled_target_must_still_map_the_grand_draw(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["scenario", "validate", str(_bundled_without_grand_draw_mapping(tmp_path))])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1
    assert "target.actions: no request mapped for grand_draw (the campaign offers it)" in err


def _bundled_without_grand_draw_mapping(tmp_path: Path) -> Path:
    from rehearse.scenarios import default_scenario_path

    text = default_scenario_path().read_text(encoding="utf-8")
    line = "    grand_draw: {method: POST, path: /api/grand-draw, payout_field: amount_fen}\n"
    assert text.count(line) == 1
    path = tmp_path / "bundled.yaml"
    path.write_text(text.replace(line, ""), encoding="utf-8")
    return path


@pytest.mark.parametrize("args, expected", [
    (["walkthrough", "--persona", "preheat_browser"], "--persona preheat_browser: the campaign has no preheat"),
    (["swarm", "--preheat-probe"], "--preheat-probe: the campaign has no preheat"),
    (["backend", "--at", "preheat+1h"], "--at preheat+1h: the campaign has no preheat"),
])
def test_asking_for_the_preheat_of_a_campaign_without_one_is_one_line(args, expected, capsys):
    with pytest.raises(SystemExit) as exited:
        main([args[0], str(NO_EXTRAS), *args[1:]])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1, err
    assert expected in err


def test_junit_skips_a_check_that_is_not_applicable():
    from rehearse.reports.junit import render_junit
    from rehearse.judging.verdicts import missing_evidence, not_applicable

    verdict = not_applicable("rules", "no taking part in preheat", "the campaign has no preheat", "preheat_closed")
    xml = render_junit([verdict])
    assert 'skipped="1"' in xml and 'failures="0"' in xml
    assert '<skipped message="not applicable: the campaign has no preheat" />' in xml
    assert missing_evidence([verdict], ["rules.preheat_closed"]) == []


@pytest.mark.xdist_group("live")
def test_a_live_swarm_on_the_reference_backend_plays_only_what_the_campaign_has(scenario, tmp_path):
    out = tmp_path / "live"
    with pytest.raises(SystemExit) as exited:
        main(["swarm", str(NO_EXTRAS), "--duration", "8s", "--scale", "1:5", "--ban-at", "3s", "--race-at", "5s",
              "--racers", "10", "--out", str(out)])
    assert exited.value.code == 0
    run = load_run(out)
    q = run.requests
    assert run.info.status == "finished"
    assert not set(q["action"]) & LEFT_OUT
    assert set(q["prize"]) <= {"", *INSTITUTIONS} and q["payout_fen"].sum() > 0
    assert (q["persona"] == "invitee").any()  # sharers' links still bring friends
    ledger = run.events[run.events["kind"] == "ledger"]["detail"].iloc[0]
    assert sorted(json.loads(ledger)["pools"]) == sorted(INSTITUTIONS)
    verdicts = {v.key: v for v in judge([("live", run)], scenario).verdicts}
    assert verdicts["rules.preheat_closed"].status == "not_applicable"
    assert verdicts["payout.no_pool_overdrawn"].status == "pass"
    assert verdicts["rules.envelopes_locked"].status == "pass"
