"""A drill's incidents as the simulator plays them: absolute campaign times, one list per kind.

    plan = Disturbances.of(scenario, scenario.drills["ban_wave"])
    simulate(scenario, seed, disturbances=plan)

Each kind changes one part of the model: bans the platform (simulator/platform.py), fraud
waves the arrivals (simulator/arrivals.py), slowdowns the queues (simulator/queueing.py) and
delayed top-ups the ledger (simulator/ledger.py). `events` are the `incident` rows the run
folder gets, the same as a live drill writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rehearse.scenarios import Scenario
from rehearse.scenarios.drills import Drill, describe, window_of


@dataclass(frozen=True)
class ForcedBan:
    t: float
    count: int | None
    domains: tuple[str, ...]


@dataclass(frozen=True)
class FraudSurge:
    start: float
    end: float
    multiplier: float


@dataclass(frozen=True)
class SlowService:
    start: float
    end: float
    actions: tuple[str, ...]
    factor: float


@dataclass(frozen=True)
class LateTopup:
    t: float  # the pool is cut to left_fen
    pool: str
    left_fen: int
    amount_fen: int
    delay: float | None  # after the pool runs out; None: never


@dataclass(frozen=True)
class Disturbances:
    bans: tuple[ForcedBan, ...] = ()
    fraud: tuple[FraudSurge, ...] = ()
    slow: tuple[SlowService, ...] = ()
    topups: tuple[LateTopup, ...] = ()
    events: tuple[tuple[float, str, str], ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, scenario: Scenario, drill: Drill) -> "Disturbances":
        start, _ = window_of(drill, scenario.traffic.windows)
        bans, fraud, slow, topups, events = [], [], [], [], []
        for incident in drill.incidents:
            t = start + incident.at
            events.append((t, "incident", describe(incident)))
            if incident.kind == "ban_domains":
                bans.append(ForcedBan(t, incident.count, tuple(incident.domains)))
            elif incident.kind == "fraud_wave":
                fraud.append(FraudSurge(t, t + incident.duration, incident.multiplier))
            elif incident.kind == "slowdown":
                slow.append(SlowService(t, t + incident.duration, tuple(incident.actions), incident.factor))
            else:
                topups.append(LateTopup(t, incident.pool, incident.left_fen, incident.amount_fen, incident.delay))
        return cls(tuple(bans), tuple(fraud), tuple(slow), tuple(topups), tuple(events))

    def service_factor(self, action: str, buckets: int, bucket_s: float) -> np.ndarray | None:
        """Per bucket, how many times slower `action` is served (None: never slowed)."""
        spans = [s for s in self.slow if action in s.actions]
        if not spans:
            return None
        mid = (np.arange(buckets) + 0.5) * bucket_s
        factor = np.ones(buckets)
        for s in spans:
            factor[(mid >= s.start) & (mid < s.end)] *= s.factor
        return factor

