"""The swarm's plan (window, compression, scale, slots), its arrivals (an open model), and where
load may go: no traffic."""

from __future__ import annotations

import pytest

from rehearse.scenarios import UsageError
from rehearse.client.safety import check_host, is_loopback
from rehearse.swarm.settings import SwarmSettings, parse_scale
import numpy as np

from rehearse.simulator.arrivals import INVITEE, PERSONAS, generate
from rehearse.swarm.arrivals import (
    LOOKAHEAD_S, SLOT_HEADROOM, SLOT_MARGIN, expected_active, schedule_for, slots_wanted,
)


def test_default_plan_plays_the_peak_window_in_a_minute(scenario):
    plan = SwarmSettings().plan(scenario)
    assert (plan.window_name, plan.duration_s, plan.compress) == ("launch_hour", 60.0, 60.0)
    assert plan.max_slots == 50_000  # no cap unless --users says so: slots follow the arrivals
    assert plan.campaign_t(30) == 1800.0


def test_compress_and_duration(scenario):
    assert SwarmSettings(compress=120).plan(scenario).duration_s == 30.0
    assert SwarmSettings(compress=120, duration_s=10).plan(scenario).duration_s == 10.0
    plan = SwarmSettings(window="evening_peak", duration_s=20, users=7, scale=10).plan(scenario)
    assert (plan.window.start, plan.compress, plan.max_slots, plan.scale) == (36000.0, 180.0, 7, 10.0)


def test_unknown_window_names_the_known_ones(scenario):
    with pytest.raises(UsageError, match="--window nope: the scenario has no such window .known: evening_peak"):
        SwarmSettings(window="nope").plan(scenario)


@pytest.mark.parametrize("text, k", [("1:100", 100.0), ("1 : 25", 25.0), ("40", 40.0)])
def test_scale(text, k):
    assert parse_scale(text) == k


@pytest.mark.parametrize("text", ["1:0", "2:5", "lots"])
def test_bad_scale(text):
    with pytest.raises(UsageError, match=f"--scale {text}: expected 1:K"):
        parse_scale(text)


def test_a_run_plays_the_simulators_participants_of_its_window_one_in_k(scenario):
    plan = SwarmSettings(duration_s=60, scale=10).plan(scenario)  # the launch hour, 1:10
    schedule = schedule_for(scenario, plan, seed=7)
    people = generate(scenario, 7)
    inside = (people.t >= 0) & (people.t < 3600) & (people.persona != INVITEE)
    assert np.isin(schedule.t, people.t[inside]).all()  # the simulator's own participants
    for code, persona in enumerate(PERSONAS):
        expected = np.sum(inside & (people.persona == code)) / 10
        assert abs(schedule.counts().get(persona, 0) - expected) <= 4 * np.sqrt(expected) + 1
    assert "invitee" not in schedule.counts()  # the live sharers' links bring the invitees
    assert (np.diff(schedule.t) >= 0).all()
    assert np.array_equal(schedule_for(scenario, plan, seed=7).t, schedule.t)  # same seed, same arrivals


def test_workers_share_the_arrivals_without_overlap(scenario):
    plan = SwarmSettings(duration_s=60, scale=100).plan(scenario)
    whole = schedule_for(scenario, plan, seed=3)
    shares = [schedule_for(scenario, plan, seed=3, share=(i, 3)) for i in range(3)]
    assert sorted(np.concatenate([s.t for s in shares])) == sorted(whole.t)
    assert max(len(s) for s in shares) - min(len(s) for s in shares) <= 1


def test_arrivals_are_handed_out_once_and_when_due(scenario):
    plan = SwarmSettings(duration_s=60, scale=100).plan(scenario)
    schedule = schedule_for(scenario, plan, seed=3)
    first = schedule.take_due(100.0)
    assert first and all(a.t <= 100.0 for a in first)
    assert schedule.next_t() > 100.0
    assert schedule.take_due(100.0) == []
    rest = schedule.take_due(1e9)
    assert len(first) + len(rest) == len(schedule) and schedule.next_t() is None


def test_arrivals_follow_the_curve_without_a_herd(scenario):
    """No wall second of the run brings more than a few times what the arrival curve says."""
    plan = SwarmSettings(duration_s=60, scale=10).plan(scenario)
    schedule = schedule_for(scenario, plan, seed=5)
    per_second = np.bincount(((schedule.t - plan.window.start) / plan.compress).astype(int), minlength=60)
    curve = scenario.arrival_curve()
    for second, count in enumerate(per_second[:60]):
        t = plan.campaign_t(second + 0.5)
        expected = curve.rate_at(t) * plan.compress / plan.scale  # organic participants per wall second
        assert count <= 3 * expected + 10, (second, count, expected)
    assert per_second[0] < per_second.sum() / 10  # the first second is no herd


def test_slots_keep_ahead_of_the_expected_concurrency(scenario):
    plan = SwarmSettings(duration_s=60, scale=100).plan(scenario)
    expected = expected_active(scenario, plan, seed=3)
    assert len(expected) == 61 and expected[0] < expected[30]  # the window starts empty and fills
    for second in (0, 15, 30, 59):
        ahead = expected[second:second + int(LOOKAHEAD_S) + 1].max()
        assert slots_wanted(expected, second) == int(np.ceil(ahead * SLOT_MARGIN)) + SLOT_HEADROOM


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.5.9", "localhost", "::1"])
def test_loopback(host):
    assert is_loopback(host)


def test_load_stays_on_loopback_unless_opted_in_twice():
    assert check_host("http://127.0.0.1:8700", False, []) == "127.0.0.1"
    with pytest.raises(UsageError, match="not a loopback address.*--allow-remote"):
        check_host("http://192.0.2.10:8700", False, ["192.0.2.10"])
    with pytest.raises(UsageError, match="not in the scenario's target.allow_remote_hosts"):
        check_host("http://192.0.2.10:8700", True, [])
    assert check_host("http://192.0.2.10:8700", True, ["192.0.2.10"]) == "192.0.2.10"
    with pytest.raises(UsageError, match="expected a URL"):
        check_host("127.0.0.1:8700", False, [])


# --- the settings' one way into a load process: the spec file -----------------------------------

def _every_field_set():
    from pathlib import Path

    from rehearse.swarm.settings import RehearsalPlan

    return SwarmSettings(scenario_path=Path("s.yaml"), overrides=("a.b=1", "c=2"), window="launch_hour", users=7,
                         scale=10.0, compress=120.0, duration_s=12.5, run_dir=Path("/tmp/r"), ops_token="secret-token",
                         seed=3, extra={"job": "j", "faults": ["double-pay"], "phase": "live"}, drill="ban_wave",
                         rehearsal=RehearsalPlan(ban_at=1.5, race_at=2.5, racers=9, copies=5, preheat=True,
                                                 flagged=True, money_left=(("anhe", 150000), ("grand", 0))),
                         steps=(10, 20), step_s=7.0, step_flags=("--peak-steps", "--peak-step-duration"), lane=(1, 3))


def test_the_settings_reach_a_load_process_whole_as_one_spec_file_without_the_token(tmp_path):
    from dataclasses import replace

    settings = _every_field_set()
    path = settings.write_spec(tmp_path / "swarm.json")
    assert "secret-token" not in path.read_text()  # the token travels in REHEARSE_OPS_TOKEN
    assert SwarmSettings.read_spec(path, "from-env") == replace(settings, ops_token="from-env")
    # every field goes: one a flag never carried (a racer's copies) as well
    assert SwarmSettings.read_spec(path).rehearsal.copies == 5


@pytest.mark.parametrize("edit, said", [
    (lambda d: d.update(surprise=1), "surprise: Unexpected keyword argument"),
    (lambda d: d.update(steps=["x"]), "steps.0: Input should be a valid integer"),
    (lambda d: d["rehearsal"].update(ban_at="soon"), "rehearsal.ban_at: Input should be a valid number"),
    (lambda d: d.update(scale=float("inf")), "scale: Input should be a finite number"),
    (lambda d: d.clear() or d.update(lane=[1]), "lane.1: Field required"),
])
def test_a_spec_file_not_as_rehearse_wrote_it_is_refused_in_one_line(tmp_path, edit, said):
    import json

    path = _every_field_set().write_spec(tmp_path / "swarm.json")
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="run the command again") as refused:
        SwarmSettings.read_spec(path)
    assert str(refused.value).startswith(f"--rehearse-spec {path}: {said}") and "\n" not in str(refused.value)


def test_any_json_in_a_spec_file_is_read_or_refused_in_one_line(tmp_path):
    import json

    from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

    base = json.loads(_every_field_set().write_spec(tmp_path / "base.json").read_text())
    values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                      max_size=3), max_leaves=8)

    @hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(field=st.sampled_from(sorted(base)), value=values)
    def check(field, value):
        path = tmp_path / "swarm.json"
        path.write_text(json.dumps({**base, field: value}))
        try:
            SwarmSettings.read_spec(path)
        except UsageError as exc:
            assert "\n" not in str(exc)

    check()


def test_flagged_numbers_alone_get_the_harness_its_own_client(tmp_path) -> None:
    from rehearse.swarm.runtime import SwarmRuntime
    from rehearse.swarm.settings import RehearsalPlan

    # `rehearse swarm --flagged-probe` with no other probe: the flagged numbers log in through it
    runtime = SwarmRuntime(SwarmSettings(run_dir=tmp_path, scale=100, rehearsal=RehearsalPlan(flagged=True)),
                           "local", "http://127.0.0.1:9")
    assert runtime.rehearsal_http is not None
    runtime.close()
