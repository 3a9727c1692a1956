"""Campaigns from ten minutes to weeks: a 2-hour flash sale and a 10-minute one validate and
simulate (one participant target: their first 24 h are all of them); exactly a day has no
singular matrix; what cannot be solved says what to change."""

from __future__ import annotations

import pytest

from rehearse.cli.main import main
from rehearse.observations import load_run
from rehearse.scenarios import ScenarioError, load_scenario


def short(minutes: int, total: int = 2000, *more: str) -> list[str]:
    end_h, end_m = divmod(minutes, 60)
    return [f"campaign.phases.end=2026-12-{20 + (10 + end_h) // 24}T{(10 + end_h) % 24:02d}:{end_m:02d}:00+08:00",
            f"traffic.windows={{launch_hour: {{start: 0s, duration: {min(minutes, 60)}m}}}}", "drills={}",
            "traffic.participants_first_24h=0", f"traffic.participants_total={total}", "traffic.preheat_visitors=0",
            "campaign.phases.preheat_start=null", "personas.mix={normal: 0.72, sharer: 0.20, fraud_script: 0.08}",
            *more]


@pytest.mark.parametrize("minutes", [10, 120])
def test_a_flash_sale_of_minutes_or_hours_validates_and_simulates(minutes, tmp_path, capsys):
    scenario = load_scenario(overrides=short(minutes))
    assert abs(scenario.arrival_curve().total - 2000) < 1e-6  # the one target holds exactly
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--out", str(tmp_path / "sim"), *[a for o in short(minutes) for a in ("--set", o)]])
    assert exited.value.code == 0, capsys.readouterr().err[-800:]
    run = load_run(tmp_path / "sim")
    assert len(run.requests) and run.requests["t"].max() <= minutes * 60


def test_exactly_one_day_solves():
    scenario = load_scenario(overrides=short(24 * 60))  # was "Singular matrix"
    assert scenario.campaign.phases.live_s == 86400 and abs(scenario.arrival_curve().total - 2000) < 1e-6


@pytest.mark.parametrize("overrides, message", [
    (short(5), "needs at least 10 min between launch and end"),
    (short(120, 2000, "traffic.participants_first_24h=500"), "first 24 h are all of it; leave "
                                                               "participants_first_24h out"),
    (["traffic.participants_first_24h=0"], "give the participants expected in its first 24 h"),
])
def test_what_cannot_be_solved_says_what_to_change(overrides, message):
    with pytest.raises(ScenarioError, match=message):
        load_scenario(overrides=overrides)
