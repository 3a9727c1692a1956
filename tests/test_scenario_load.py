"""The bundled scenario carries the brief's numbers; the arrival curve meets its targets."""

from __future__ import annotations

import pytest

from rehearse.scenarios import ScenarioError, load_scenario
from rehearse.scenarios.units import parse_duration


def test_bundled_scenario_has_the_brief_numbers(scenario):
    c = scenario.campaign
    assert len(c.institutions) == 8
    assert c.phases.preheat_s == 7 * 86400
    assert c.phases.live_s == 11 * 86400
    assert c.grand_round.top_prize.amount_fen == 66600
    assert c.invite.friends_required == 3
    assert scenario.traffic.participants_first_24h == 400_000
    assert scenario.traffic.participants_total == 900_000
    assert 5 <= len(scenario.links.backup_domains) <= 10
    assert set(scenario.budget.institutions_fen) == {i.id for i in c.institutions}


def test_arrival_curve_meets_both_participant_targets(scenario):
    curve = scenario.arrival_curve()
    assert curve.arrived_by(86400) == pytest.approx(400_000, rel=1e-9)
    assert curve.total == pytest.approx(900_000, rel=1e-9)
    assert curve.share_by(0) == 0.0 and curve.share_by(scenario.campaign.phases.live_s) == 1.0
    assert curve.rate_at(0) > curve.rate_at(3 * 86400)  # the launch spike, then the tail


def test_phases_by_campaign_time(scenario):
    phases = scenario.campaign.phases
    assert [phases.phase_at(t) for t in (-8 * 86400, -60, 0, 11 * 86400)] == [
        "before", "preheat", "live", "ended"]


def test_digest_is_stable_and_content_addressed(scenario):
    assert load_scenario().digest() == scenario.digest()
    assert load_scenario(overrides=["seed=1"]).digest() != scenario.digest()


def test_overrides_change_values_and_are_validated():
    changed = load_scenario(overrides=["personas.mix.fraud_script=0.18", "personas.mix.normal=0.52",
                                       "links.backup_domains=[]"])
    assert changed.personas.mix.fraud_script == 0.18
    assert changed.links.backup_domains == []
    with pytest.raises(ScenarioError, match=r"personas\.mix: persona shares must add up to 1"):
        load_scenario(overrides=["personas.mix.fraud_script=0.5"])


@pytest.mark.parametrize("override, message", [
    ("budget.grand_fen=5", "budget.grand_fen: unknown field"),
    ("budgt.grand_round_fen=5", "no field 'budgt'"),
    ("campaign.institutions.9.name=x", "needs a list index from 0 to 7"),
    ("no-equals-sign", "expected PATH=VALUE"),
])
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(ScenarioError, match=message.replace(".", r"\.")):
        load_scenario(overrides=[override])


@pytest.mark.parametrize("text, seconds", [("250ms", 0.25), ("90s", 90), ("5m", 300), ("2h", 7200),
                                           ("7d", 604800), (12, 12.0), ("-3d", -259200)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_bad_duration_says_what_is_expected():
    with pytest.raises(ValueError, match="expected a duration such as 30s"):
        parse_duration("soon")
