"""The swarm's plan (window, compression, scale, users) and where load may go: no traffic."""

from __future__ import annotations

import pytest

from rehearse.scenarios import UsageError
from rehearse.swarm.safety import check_host, is_loopback
from rehearse.swarm.settings import SwarmSettings, parse_scale
from rehearse.swarm.shape import arrival_rate, users_at


def test_default_plan_plays_the_peak_window_in_a_minute(scenario):
    plan = SwarmSettings().plan(scenario)
    assert (plan.window_name, plan.duration_s, plan.compress) == ("launch_hour", 60.0, 60.0)
    assert plan.peak_users == scenario.gates.peak.target_active_users // 100  # at 1:100
    assert plan.campaign_t(30) == 1800.0


def test_compress_and_duration(scenario):
    assert SwarmSettings(compress=120).plan(scenario).duration_s == 30.0
    assert SwarmSettings(compress=120, duration_s=10).plan(scenario).duration_s == 10.0
    plan = SwarmSettings(window="evening_peak", duration_s=20, users=7, scale=10).plan(scenario)
    assert (plan.window.start, plan.compress, plan.peak_users, plan.scale) == (36000.0, 180.0, 7, 10.0)


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


def test_users_follow_the_launch_spike_down(scenario):
    plan = SwarmSettings(duration_s=60, users=50).plan(scenario)
    users = [users_at(scenario, plan, second) for second in range(0, 60, 10)]
    assert users[0] == 50
    assert users == sorted(users, reverse=True) and users[-1] < 50


def test_preheat_window_uses_preheat_visitors(scenario):
    assert arrival_rate(scenario, -86400) == pytest.approx(60000 / (7 * 86400))
    assert arrival_rate(scenario, -8 * 86400) == 0.0


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
