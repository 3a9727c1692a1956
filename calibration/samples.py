"""A step load's held steps as the fits need them: per second of each hold, the throughput and
the concurrency at the target (requests in flight, by Little's law: requests/s times their mean
latency); per action its rate, p95 and how sure that p95 is. From the harness's own rows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rehearse.judging.steps import Step, steps_of
from rehearse.observations import Run
from rehearse.scenarios import Scenario

BOOTSTRAP = 200  # resamples of a step's latencies for its p95's spread
BOOTSTRAP_MAX = 2000  # latencies drawn from at most (a p95's spread needs no more)
MIN_REQUESTS = 20  # an action with fewer answered requests in a step gives no p95 there


@dataclass(frozen=True)
class ActionSample:
    """One action in one held step: requests/s, p95 (ms) of the answers that did its work, and the
    spread of log p95 (its bootstrap standard deviation)."""

    rate: float
    p95_ms: float
    log_sd: float
    requests: int


@dataclass(frozen=True)
class StepSample:
    """One held step: its participants, mean playing, requests/s over the hold, and requests in
    flight and requests/s each second of it (seconds with no request left out)."""

    participants: int
    playing: float
    rps: float
    per_second: tuple[tuple[float, float], ...]  # (requests in flight, requests/s) each second
    actions: dict[str, ActionSample]

    @property
    def per_participant(self) -> float:
        """Requests/s each participant playing sent: the load the journeys make, not the target."""
        return self.rps / max(self.playing, 1.0) if math.isfinite(self.playing) else math.nan


def held_samples(run: Run, scenario: Scenario, seed: int = 0) -> tuple[list[StepSample], list[Step]]:
    """The samples of a step load's held steps (in order of participants), and every step as
    judged (held, broke, limited). A run that is no step load has no steps: ([], [])."""
    steps = steps_of(run, scenario) or []
    q = run.target_load()
    rng = np.random.default_rng(seed)
    samples = []
    for step in sorted((s for s in steps if s.status == "held"), key=lambda s: s.target):
        rows = q[(q["t"] >= step.start) & (q["t"] < step.end)]
        seconds = max(step.end - step.start, 1e-9)
        latency_s = rows["latency_ms"].to_numpy(dtype=float) / 1000
        whole = np.floor(rows["t"].to_numpy() - step.start).astype(int)
        span = max(int(seconds), 1)
        inside = (whole >= 0) & (whole < span)
        sent = np.bincount(whole[inside], minlength=span)[:span].astype(float)
        busy = np.bincount(whole[inside], weights=latency_s[inside], minlength=span)[:span]
        per_second = tuple((float(c), float(x)) for c, x in zip(busy, sent) if x > 0)
        actions = {}
        for action, asked in rows.groupby("action"):
            served = asked[~asked["refused"]] if (~asked["refused"]).any() else asked
            latency = served["latency_ms"].to_numpy(dtype=float)
            if len(latency) < MIN_REQUESTS:
                continue
            p95 = float(np.quantile(latency, 0.95))
            pool = latency if len(latency) <= BOOTSTRAP_MAX else rng.choice(latency, BOOTSTRAP_MAX, replace=False)
            draws = rng.choice(pool, size=(BOOTSTRAP, len(pool)), replace=True)
            spread = np.quantile(draws, 0.95, axis=1)
            # the spread of a p95 from all the step's latencies: from fewer, scaled as 1 / sqrt(n)
            log_sd = float(np.std(np.log(np.maximum(spread, 1e-3)))) * math.sqrt(len(pool) / len(latency))
            actions[str(action)] = ActionSample(rate=len(asked) / seconds, p95_ms=max(p95, 1e-3), log_sd=log_sd,
                                                requests=len(asked))
        samples.append(StepSample(participants=step.target, playing=step.active, rps=len(rows) / seconds,
                                  per_second=per_second, actions=actions))
    return samples, steps
