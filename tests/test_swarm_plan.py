"""The swarm's plan (window, compression, scale, slots), its arrivals (an open model), and where
load may go: no traffic."""

from __future__ import annotations

import pytest

from rehearse.scenarios import UsageError
from rehearse.swarm.safety import check_host, is_loopback
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
