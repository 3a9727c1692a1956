"""The live platform model: ban rules in campaign time, lost visits, on-demand bans, snapshots."""

from __future__ import annotations

import threading

import pytest

from rehearse.scenarios import RehearseError, load_scenario
from rehearse.scenarios.safeguards import Links
from rehearse.swarm.platform import Ban, DomainCounts, Platform, PlatformError, PlatformSnapshot

HB1, HB2 = "hb1.yearend-wealth.example", "hb2.yearend-wealth.example"
CONFIGURED = ("hb1.yearend-wealth.example", "hb2.yearend-wealth.example",
              "hb3.yearend-wealth.example", "hb4.yearend-wealth.example",
              *(f"bk{i}.redenv-go.example" for i in range(1, 9)))


class Clock:
    """Campaign time stepped by hand."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def links() -> Links:
    """Window 1 h, more than 5 visits or 3 shares in it bans a domain."""
    return load_scenario(overrides=["links.ban_rule.max_visits=5",
                                    "links.ban_rule.max_shares=3"]).links


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bans() -> list[tuple[float, str, str]]:
    return []


@pytest.fixture
def platform(links: Links, clock: Clock, bans: list) -> Platform:
    return Platform(links, clock, on_ban=lambda d, reason: bans.append((clock(), d, reason)))


def test_no_ban_up_to_the_threshold(platform: Platform, clock: Clock, bans: list) -> None:
    for t in range(5):
        clock.t = t * 60.0
        assert platform.visit(HB1) is True
    assert not platform.is_banned(HB1)
    assert bans == []


def test_ban_exactly_when_the_count_passes_the_threshold(platform: Platform, clock: Clock,
                                                         bans: list) -> None:
    for t in range(6):
        clock.t = t * 60.0
        assert platform.visit(HB1) is True  # the visit that trips the rule still gets through
    assert platform.is_banned(HB1)
    assert not platform.is_banned(HB2)
    assert bans == [(300.0, HB1, "visits 6 > 5 in 3600 s")]


def test_visits_through_a_banned_domain_are_refused_and_lost(platform: Platform, clock: Clock,
                                                             bans: list) -> None:
    for _ in range(6):
        platform.visit(HB1)
    clock.t = 10.0
    assert [platform.visit(HB1) for _ in range(3)] == [False, False, False]
    assert platform.visit(HB2) is True
    assert platform.snapshot().domains[HB1] == DomainCounts(visits=6, shares=0, lost_visits=3)
    assert len(bans) == 1  # the hook fires once per ban, not per refused visit


def test_counts_older_than_the_window_stop_counting(platform: Platform, clock: Clock,
                                                    bans: list) -> None:
    for _ in range(5):
        platform.visit(HB1)
    clock.t = 3600.0  # the t=0 bucket has left the window
    for _ in range(5):
        assert platform.visit(HB1) is True
    assert bans == []
    assert platform.visit(HB1) is True
    assert bans == [(3600.0, HB1, "visits 6 > 5 in 3600 s")]


def test_the_window_is_accurate_to_one_bucket(platform: Platform, clock: Clock,
                                              bans: list) -> None:
    clock.t = 59.0  # the same 60 s bucket as t=0
    for _ in range(5):
        platform.visit(HB1)
    clock.t = 3599.0
    platform.visit(HB1)
    assert bans == [(3599.0, HB1, "visits 6 > 5 in 3600 s")]


def test_memory_stays_bounded_over_a_long_run(platform: Platform, clock: Clock) -> None:
    for minute in range(24 * 60):
        clock.t = minute * 60.0 * 13  # one visit every 13 minutes for 13 days: never > 5 an hour
        assert platform.visit(HB1) is True
    assert len(platform._domains[HB1].visits_window._buckets) <= 60


def test_scale_divides_the_thresholds(clock: Clock) -> None:
    links = load_scenario(overrides=["links.ban_rule.max_visits=60",
                                     "links.ban_rule.max_shares=8"]).links
    bans: list[tuple[str, str]] = []
    platform = Platform(links, clock, scale=10, on_ban=lambda d, r: bans.append((d, r)))
    assert (platform.max_visits, platform.max_shares) == (6, 1)  # 0.8 shares: never below 1
    for _ in range(6):
        platform.visit(HB1)
    assert bans == []
    platform.visit(HB1)
    assert bans == [(HB1, "visits 7 > 6 in 3600 s")]
    platform.share(HB2)
    assert len(bans) == 1
    platform.share(HB2)
    assert bans == [(HB1, "visits 7 > 6 in 3600 s"), (HB2, "shares 2 > 1 in 3600 s")]


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf")])
def test_a_bad_scale_is_refused_with_the_fix(links: Links, clock: Clock, scale: float) -> None:
    with pytest.raises(PlatformError, match="scale must be a positive number.*scale=100"):
        Platform(links, clock, scale=scale)
    assert issubclass(PlatformError, RehearseError)


def test_ban_on_demand(platform: Platform, clock: Clock, bans: list) -> None:
    clock.t = 42.0
    assert platform.ban(HB2, "drill: platform bans hb2") is True
    assert platform.ban(HB2) is False
    assert platform.visit(HB2) is False
    assert platform.ban(HB1) is True
    assert bans == [(42.0, HB2, "drill: platform bans hb2"), (42.0, HB1, "on demand")]


def test_shares_trigger_their_own_rule(platform: Platform, clock: Clock, bans: list) -> None:
    for _ in range(3):
        platform.share(HB1)
        platform.visit(HB1)
    assert bans == []
    clock.t = 100.0
    platform.share(HB1)
    assert bans == [(100.0, HB1, "shares 4 > 3 in 3600 s")]
    platform.share(HB1)  # shares on a banned domain count, but do not ban it again
    assert len(bans) == 1
    assert platform.snapshot().domains[HB1] == DomainCounts(visits=3, shares=5, lost_visits=0)


def test_snapshot_figures_are_exact(platform: Platform, clock: Clock) -> None:
    for _ in range(6):
        platform.visit(HB1)
    platform.share(HB1)
    clock.t = 90.0
    platform.visit(HB1)
    platform.visit(HB2)
    platform.share(HB2)
    platform.ban("bk3.redenv-go.example")
    clock.t = 120.0
    assert platform.snapshot() == PlatformSnapshot(
        t=120.0,
        healthy=tuple(d for d in CONFIGURED if d not in (HB1, "bk3.redenv-go.example")),
        banned=(Ban(HB1, 0.0, "visits 6 > 5 in 3600 s"),
                Ban("bk3.redenv-go.example", 90.0, "on demand")),
        domains={d: DomainCounts() for d in CONFIGURED}
        | {HB1: DomainCounts(visits=6, shares=1, lost_visits=1),
           HB2: DomainCounts(visits=1, shares=1, lost_visits=0)},
        visits=7, shares=2, lost_visits=1)


def test_an_unknown_domain_is_tracked(platform: Platform, clock: Clock, bans: list) -> None:
    other = "promo.elsewhere.example"
    platform.share(other)
    for _ in range(6):
        platform.visit(other)
    assert platform.visit("PROMO.elsewhere.example") is False  # host names ignore case
    snapshot = platform.snapshot()
    assert snapshot.healthy == CONFIGURED
    assert snapshot.banned == (Ban(other, 0.0, "visits 6 > 5 in 3600 s"),)
    assert snapshot.domains[other] == DomainCounts(visits=6, shares=1, lost_visits=1)
    assert bans == [(0.0, other, "visits 6 > 5 in 3600 s")]


def test_threads_count_every_visit_and_ban_once(links: Links, clock: Clock) -> None:
    bans: list[str] = []
    platform = Platform(links, clock, scale=1 / 1000, on_ban=lambda d, r: bans.append(d))
    threads = [threading.Thread(target=lambda: [platform.visit(HB1) for _ in range(1000)])
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot = platform.snapshot()
    assert snapshot.domains[HB1] == DomainCounts(visits=5001, shares=0, lost_visits=2999)
    assert bans == [HB1]


def test_the_hook_may_read_the_platform(links: Links, clock: Clock) -> None:
    seen: list[tuple[str, ...]] = []
    platform = Platform(links, clock, on_ban=lambda d, r: seen.append(platform.snapshot().healthy))
    platform.ban(HB1)
    assert seen == [CONFIGURED[1:]]
