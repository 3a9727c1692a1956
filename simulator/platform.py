"""The social platform over the whole campaign, minute by minute, as a SimPy process.

Visits (page views, link visits) and shares spread evenly over the domains the backend is
issuing; a domain whose visits or shares within the ban rule's window pass its limits is
banned. After the failover's detection delay operations remove it and the next backup joins
(or the pool shrinks when none is left). Until then, new visitors sent to it are lost; links
shared on it earlier keep losing the friends who follow them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np
import simpy

from rehearse.scenarios.safeguards import Links

if TYPE_CHECKING:
    from rehearse.simulator.incidents import ForcedBan

RECENT_LINKS_S = 6 * 3600.0  # links older than this are rarely followed any more


@dataclass
class PlatformTimeline:
    """Per bucket: the share of new visitors and of invitees lost, and the pool's state."""

    lost_visitors: np.ndarray
    lost_invitees: np.ndarray
    healthy: np.ndarray  # domains issuing and not banned
    banned: np.ndarray  # domains banned so far
    events: list[tuple[float, str, str]] = field(default_factory=list)


def run_platform(links: Links | None, bucket_s: float, visits: np.ndarray, shares: np.ndarray,
                 scale: float = 1.0, forced: Sequence[ForcedBan] = ()) -> PlatformTimeline:
    """Play the platform over the buckets (visits[b], shares[b] per bucket); `forced` bans
    (a drill's) hit at their time: the listed domains, or the first `count` issuing ones.
    A campaign without share links (`links` None) loses nobody and has no pool to count."""
    buckets = len(visits)
    if links is None:
        return PlatformTimeline(np.zeros(buckets), np.zeros(buckets), np.full(buckets, np.nan),
                                np.full(buckets, np.nan))
    env = simpy.Environment()
    issuing = list(links.primary_domains)
    spares = list(links.backup_domains)
    names = issuing + spares
    index = {d: i for i, d in enumerate(names)}
    window = max(1, int(round(links.ban_rule.window / bucket_s)))
    max_visits = max(1.0, links.ban_rule.max_visits / scale)
    max_shares = max(1.0, links.ban_rule.max_shares / scale)
    recent = max(1, int(RECENT_LINKS_S / bucket_s))
    seen_visits = np.zeros((buckets, len(names)))
    seen_shares = np.zeros((buckets, len(names)))
    banned_at: dict[str, float] = {}
    timeline = PlatformTimeline(np.zeros(buckets), np.zeros(buckets), np.zeros(buckets, dtype=np.int64),
                                np.zeros(buckets, dtype=np.int64))

    def failover(domain: str):
        yield env.timeout(links.failover.detection_delay)
        if domain in issuing:
            issuing.remove(domain)
        if spares:
            replacement = spares.pop(0)
            issuing.append(replacement)
            timeline.events.append((env.now, "failover", f"{domain} -> {replacement}"))
        else:
            timeline.events.append((env.now, "pool_exhausted", f"no backup left to replace {domain}"))

    def ban(domain: str, detail: str) -> None:
        banned_at[domain] = env.now
        timeline.events.append((env.now, "ban", f"{domain}: {detail}"))
        env.process(failover(domain))

    def on_demand(b: int) -> None:
        for forced_ban in forced:
            if b * bucket_s <= forced_ban.t < (b + 1) * bucket_s:
                live = [d for d in issuing if d not in banned_at]
                chosen = list(forced_ban.domains) or live[: forced_ban.count]
                for domain in chosen:
                    if domain in spares:  # a backup not yet issuing: it will never join
                        spares.remove(domain)
                        banned_at[domain] = env.now
                        timeline.events.append((env.now, "ban", f"{domain}: banned by the platform (drill)"))
                    elif domain not in banned_at:
                        ban(domain, "banned by the platform (drill)")

    def minutes():
        for b in range(buckets):
            on_demand(b)
            pool = [index[d] for d in issuing]
            if pool:
                seen_visits[b, pool] = visits[b] / len(pool)
                seen_shares[b, pool] = shares[b] / len(pool)
            start = max(0, b - window + 1)
            for d in list(issuing):
                if d in banned_at:
                    continue
                i = index[d]
                v, s = seen_visits[start:b + 1, i].sum(), seen_shares[start:b + 1, i].sum()
                if v > max_visits or s > max_shares:
                    rule = "visits" if v > max_visits else "shares"
                    figure, limit = (v, max_visits) if rule == "visits" else (s, max_shares)
                    ban(d, f"{rule} {figure:.0f} > {limit:.0f} in {links.ban_rule.window:g} s")
            dead = [index[d] for d in issuing if d in banned_at]
            timeline.lost_visitors[b] = len(dead) / len(issuing) if issuing else 1.0
            links_start = max(0, b - recent + 1)
            issued = seen_shares[links_start:b + 1].sum(axis=0)
            dead_links = [index[d] for d in banned_at]
            timeline.lost_invitees[b] = issued[dead_links].sum() / issued.sum() if issued.sum() else 0.0
            timeline.healthy[b] = sum(1 for d in issuing if d not in banned_at)
            timeline.banned[b] = len(banned_at)
            yield env.timeout(bucket_s)

    env.process(minutes())
    env.run()
    return timeline
