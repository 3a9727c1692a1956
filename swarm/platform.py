"""The social platform during a live run: counts visits and shares per link domain and bans a
domain when the scenario's ban rule fires (or a drill says so); every later visit through a
banned domain is refused client-side and the visitor is lost.

    platform = Platform(scenario.links, clock=campaign_clock.now, scale=100, on_ban=report)
    if not platform.visit(urlsplit(link).hostname):
        ...the invitee never reaches the page...
    platform.share(domain)

The ban rule's window slides in buckets of window/60 seconds, so memory stays bounded however
long the run: a count is the sum of the buckets that started less than one window ago, which
makes the window accurate to one bucket (an event drops out between window - window/60 and
window seconds after it happened).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable

from rehearse.scenarios.errors import RehearseError
from rehearse.scenarios.safeguards import Links

BUCKETS_PER_WINDOW = 60

__all__ = ["Ban", "DomainCounts", "Platform", "PlatformError", "PlatformSnapshot"]


class PlatformError(RehearseError):
    """The platform model cannot be built as asked (a bad scale)."""

    exit_code = 2


@dataclass(frozen=True)
class Ban:
    """One banned domain: when (campaign seconds) and why."""

    domain: str
    t: float
    reason: str


@dataclass(frozen=True)
class DomainCounts:
    """Whole-run totals for one domain; lost visits are refused ones, not among `visits`."""

    visits: int = 0
    shares: int = 0
    lost_visits: int = 0


@dataclass(frozen=True)
class PlatformSnapshot:
    """The platform at campaign time `t`, for gauges, events and the link-ban gate."""

    t: float
    healthy: tuple[str, ...]  # configured (primary, then backup) and seen domains, not banned
    banned: tuple[Ban, ...]  # in the order they were banned
    domains: dict[str, DomainCounts]  # every domain configured or seen
    visits: int
    shares: int
    lost_visits: int


class _Window:
    """Events per time bucket over the last window; at most BUCKETS_PER_WINDOW buckets."""

    def __init__(self, width: float) -> None:
        self._width = width
        self._buckets: deque[list[int]] = deque()  # [bucket index, count], oldest first
        self._total = 0

    def add(self, t: float) -> int:
        """Count one event at time t; the count within the window afterwards."""
        index = math.floor(t / self._width)
        self._drop_before(index - BUCKETS_PER_WINDOW + 1)
        if self._buckets and self._buckets[-1][0] >= index:
            self._buckets[-1][1] += 1  # same bucket (or a clock step back: count it as latest)
        else:
            self._buckets.append([index, 1])
        self._total += 1
        return self._total

    def _drop_before(self, first_live: int) -> None:
        while self._buckets and self._buckets[0][0] < first_live:
            self._total -= self._buckets.popleft()[1]


@dataclass
class _Domain:
    """Mutable per-domain state, guarded by the platform's lock."""

    visits_window: _Window
    shares_window: _Window
    visits: int = 0
    shares: int = 0
    lost_visits: int = 0
    ban: Ban | None = None


class Platform:
    """The social platform's ban rule applied to the campaign's link domains, in campaign time."""

    def __init__(self, links: Links, clock: Callable[[], float], scale: float = 1.0,
                 on_ban: Callable[[str, str], None] | None = None) -> None:
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise PlatformError(
                f"scale must be a positive number of real users per simulated user, got "
                f"{scale!r}: pass e.g. scale=1 for a full-size run or scale=100 for 1 in 100")
        self._clock = clock
        self._on_ban = on_ban
        self.window = links.ban_rule.window
        self.max_visits = max(1.0, links.ban_rule.max_visits / scale)
        self.max_shares = max(1.0, links.ban_rule.max_shares / scale)
        self._width = self.window / BUCKETS_PER_WINDOW
        self._lock = threading.Lock()
        self._domains: dict[str, _Domain] = {}
        self._bans: list[Ban] = []
        for domain in [*links.primary_domains, *links.backup_domains]:
            self._domain(domain)

    def visit(self, domain: str) -> bool:
        """A visit through a link on `domain`: False (a lost visitor) if the domain is banned."""
        with self._lock:
            now = self._clock()
            state = self._domain(domain)
            if state.ban is not None:
                state.lost_visits += 1
                return False
            state.visits += 1
            count = state.visits_window.add(now)
            ban = self._rule(state, domain, now, "visits", count, self.max_visits)
        self._announce(ban)
        return True

    def share(self, domain: str) -> None:
        """A link on `domain` shared to the platform; too many within the window ban it."""
        with self._lock:
            now = self._clock()
            state = self._domain(domain)
            state.shares += 1
            count = state.shares_window.add(now)
            ban = None if state.ban else self._rule(state, domain, now, "shares", count,
                                                    self.max_shares)
        self._announce(ban)

    def ban(self, domain: str, reason: str = "on demand") -> bool:
        """Ban `domain` now whatever the counts (drills); False if it was banned already."""
        with self._lock:
            state = self._domain(domain)
            ban = None if state.ban else self._record(state, domain, self._clock(), reason)
        self._announce(ban)
        return ban is not None

    def is_banned(self, domain: str) -> bool:
        """Whether visits through `domain` are refused."""
        with self._lock:
            state = self._domains.get(self._key(domain))
            return state is not None and state.ban is not None

    def snapshot(self) -> PlatformSnapshot:
        """Healthy and banned domains and the run's counts, consistent at one instant."""
        with self._lock:
            domains = {name: DomainCounts(s.visits, s.shares, s.lost_visits)
                       for name, s in self._domains.items()}
            return PlatformSnapshot(
                t=self._clock(),
                healthy=tuple(name for name, s in self._domains.items() if s.ban is None),
                banned=tuple(self._bans),
                domains=domains,
                visits=sum(c.visits for c in domains.values()),
                shares=sum(c.shares for c in domains.values()),
                lost_visits=sum(c.lost_visits for c in domains.values()),
            )

    @staticmethod
    def _key(domain: str) -> str:
        return domain.lower()

    def _domain(self, domain: str) -> _Domain:
        """The state of `domain`, tracked from first sight even if the scenario does not list it."""
        key = self._key(domain)
        state = self._domains.get(key)
        if state is None:
            state = self._domains[key] = _Domain(_Window(self._width), _Window(self._width))
        return state

    def _rule(self, state: _Domain, domain: str, now: float, what: str, count: int,
              limit: float) -> Ban | None:
        """Ban when the count within the window has passed the (scaled) limit."""
        if count <= limit:
            return None
        return self._record(state, domain, now, f"{what} {count} > {limit:g} in {self.window:g} s")

    def _record(self, state: _Domain, domain: str, now: float, reason: str) -> Ban:
        state.ban = Ban(self._key(domain), now, reason)
        self._bans.append(state.ban)
        return state.ban

    def _announce(self, ban: Ban | None) -> None:
        """Call the hook outside the lock, so it may read the platform (or raise) safely."""
        if ban is not None and self._on_ban is not None:
            self._on_ban(ban.domain, ban.reason)
