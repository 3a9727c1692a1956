"""A drill's incidents played during a live run, at their campaign times, by the harness.

The harness plays the incident, never the backend: a ban goes through the platform model
(later visits through the domain are refused, the ban is reported with `report_ban`), a fraud
wave sends more of the swarm's participants as script operators, a slowdown and a cut pool go
through the target contract's operations (`slowdown`, `limit_pool`), and a late top-up is an
operator's `topup` with a fresh TOTP code. Each writes an `incident` event (and `budget_exhausted`
/ `topup` when the harness's operator sees the pool run out and tops it up), the same rows a
simulated drill writes. Money and populations are divided by the run's scale.

    incidents = LiveIncidents(drill, start, scale, clock, platform, operation, event, otp_secret)
    incidents.tick()          # often; plays whatever is due
    persona = incidents.persona_for("normal")
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Callable

import pyotp

from rehearse.scenarios.drills import Drill, describe
from rehearse.scenarios.safeguards import Links
from rehearse.swarm.platform import Platform

Operation = Callable[..., "dict[str, Any] | None"]
Event = Callable[[float, str, str], None]


@dataclass
class _Watch:
    """A cut pool the harness's operator watches: when it runs out, a top-up `delay` later."""

    pool: str
    amount_fen: int
    delay: float | None
    ran_out: float | None = None
    done: bool = False
    blind: bool = False  # the target's ledger gives no money left for the pool: said once


class LiveIncidents:
    def __init__(self, drill: Drill, start: float, scale: float, links: Links | None, clock: Callable[[], float],
                 platform: Platform | None, operation: Operation, event: Event, otp_secret: str = "",
                 fraud_share: float = 0.0, largest_payout_fen: dict[str, int] | None = None, rng: random.Random | None = None) -> None:
        self.pending = sorted(drill.incidents, key=lambda i: i.at)
        self.start, self.scale, self.links = start, scale, links
        self.clock, self.platform, self.operation, self.event = clock, platform, operation, event
        self.otp_secret = otp_secret
        self.fraud_share = fraud_share
        self.largest_payout_fen = largest_payout_fen or {}
        self.rng = rng or random.Random(0)
        self.waves: list[tuple[float, float, float]] = []  # (start, end, multiplier)
        self.watches: list[_Watch] = []

    def tick(self) -> None:
        """Play every incident whose time has come; watch cut pools."""
        now = self.clock()
        while self.pending and self.start + self.pending[0].at <= now:
            incident = self.pending.pop(0)
            self.event(now, "incident", describe(incident))
            getattr(self, f"_{incident.kind}")(incident, now)
        for watch in self.watches:
            self._watch(watch, now)

    def persona_for(self, persona: str) -> str:
        """During a fraud wave, a share of the other participants come as script operators, so
        that scripts arrive `multiplier` times as often as the mix says."""
        now = self.clock()
        boost = max((m for s, e, m in self.waves if s <= now < e), default=1.0)
        if boost <= 1.0 or persona == "fraud_script" or not 0 < self.fraud_share < 1:
            return persona
        extra = min(1.0, (boost - 1.0) * self.fraud_share / (1.0 - self.fraud_share))
        return "fraud_script" if self.rng.random() < extra else persona

    # --- one method per incident kind ---------------------------------------------------------

    def _ban_domains(self, incident, now: float) -> None:
        # a ban drill needs share links (the scenario's validation), and share links a platform
        assert self.links is not None and self.platform is not None
        configured = self.links.primary_domains + self.links.backup_domains
        chosen = list(incident.domains) or [d for d in configured if not self.platform.is_banned(d)][: incident.count]
        for domain in chosen:
            self.platform.ban(domain, "banned by the platform (drill)")

    def _fraud_wave(self, incident, now: float) -> None:
        self.waves.append((now, self.start + incident.at + incident.duration, incident.multiplier))

    def _slowdown(self, incident, now: float) -> None:
        answer = self.operation("slowdown", actions=list(incident.actions), factor=incident.factor,
                                duration=incident.duration)
        if answer is None:
            self.event(now, "incident_failed", "the target has no slowdown operation or refused it")

    def _delayed_topup(self, incident, now: float) -> None:
        left_fen = int(incident.left_fen / self.scale)
        answer = self.operation("limit_pool", pool=incident.pool, left_fen=left_fen)
        if answer is None:
            self.event(now, "incident_failed", f"the target could not cut pool {incident.pool}")
        else:  # the harness's own ledger judges the pool's payouts from here against this cap
            self.event(self.clock(), "pool_cap", json.dumps({"pool": incident.pool, "left_fen": left_fen}))
        self.watches.append(_Watch(incident.pool, max(1, int(incident.amount_fen / self.scale)), incident.delay))

    def _watch(self, watch: _Watch, now: float) -> None:
        if watch.done:
            return
        if watch.ran_out is None:
            ledger = self.operation("ledger")
            if ledger is None:  # not read this time (or not mapped: the drill's check says so)
                return
            pool = (ledger.get("pools") or {}).get(watch.pool) or {}
            left = pool.get("left_fen")
            if not isinstance(left, (int, float)) or isinstance(left, bool):
                if not watch.blind:  # the top-up cannot be timed: the drill says so, never guesses
                    watch.blind = True
                    self.event(now, "incident_failed", f"the top-up of {watch.pool} cannot be timed: the target's "
                                                       f"ledger gives no left_fen for it (map operations.ledger's pools)")
                return
            # out: it can no longer pay every envelope it may draw
            if left < self.largest_payout_fen.get(watch.pool, 1):
                watch.ran_out = now
                self.event(now, "budget_exhausted", f"{watch.pool} pool is empty ({left} fen left)")
            return
        if watch.delay is None or now < watch.ran_out + watch.delay:
            return
        watch.done = True
        code = pyotp.TOTP(self.otp_secret).now() if self.otp_secret else ""
        answer = self.operation("topup", pool=watch.pool, amount_fen=watch.amount_fen, otp=code,
                                operator="rehearse drill")
        if answer is None:
            self.event(now, "incident_failed", f"the top-up of {watch.pool} was refused (ops token, TOTP secret?)")
        else:
            self.event(now, "topup", f"{watch.pool} +{watch.amount_fen} fen")
