"""A step load's held steps as the fits need them: participants playing, throughput per second
of the hold, and per action its rate, p95 and how sure that p95 is (from the harness's own rows)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rehearse.judging.steps import Step, steps_of
from rehearse.observations import Run
from rehearse.scenarios import Scenario

BOOTSTRAP = 200  # resamples of a step's latencies for its p95's spread
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
    """One held step: its participants (N), mean playing, requests/s over the hold and per second."""

    participants: int
    playing: float
    rps: float
    per_second: tuple[float, ...]
    actions: dict[str, ActionSample]


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
        whole = np.floor(rows["t"].to_numpy() - step.start).astype(int)
        span = max(int(seconds), 1)
        per_second = np.bincount(whole[(whole >= 0) & (whole < span)], minlength=span)[:span]
        actions = {}
        for action, sent in rows.groupby("action"):
            served = sent[~sent["refused"]] if (~sent["refused"]).any() else sent
            latency = served["latency_ms"].to_numpy(dtype=float)
            if len(latency) < MIN_REQUESTS:
                continue
            p95 = float(np.quantile(latency, 0.95))
            draws = rng.choice(latency, size=(BOOTSTRAP, len(latency)), replace=True)
            spread = np.quantile(draws, 0.95, axis=1)
            log_sd = float(np.std(np.log(np.maximum(spread, 1e-3))))
            actions[str(action)] = ActionSample(rate=len(sent) / seconds, p95_ms=max(p95, 1e-3), log_sd=log_sd,
                                                requests=len(sent))
        samples.append(StepSample(participants=step.target, playing=step.active, rps=len(rows) / seconds,
                                  per_second=tuple(float(n) for n in per_second), actions=actions))
    return samples, steps
