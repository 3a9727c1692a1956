"""A step load calibrated: the USL through its throughput, an M/M/c queue per action through its
p95s, and the knee they predict (the most participants at which every action's p95 stays within
its SLO and throughput still rises), with its range. A prediction, never a measurement.

    calibration = calibrate(run, scenario)      # CalibrationError: fewer than MIN_HELD held steps
    calibration.predict(16_000).rps             # requests/s the fit predicts at 16,000 playing
    calibration.knee.participants, calibration.knee.low, calibration.knee.high
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rehearse.calibration.queues import Queue, QueueFit, fit_queue
from rehearse.calibration.samples import StepSample, held_samples
from rehearse.calibration.usl import USL, bootstrap_usl, fit_usl
from rehearse.observations import Run
from rehearse.scenarios import RehearseError, Scenario

MIN_HELD = 3  # held steps a fit needs (three coefficients)
MIX_DRIFT = 0.25  # requests/s per participant changing more than this across steps: the journeys' mix, not the target
BAND = (10, 90)  # percentiles of the bootstrap the range is given by


class CalibrationError(RehearseError):
    """A run that cannot be calibrated on (no step load, too few held steps)."""

    exit_code = 2


@dataclass(frozen=True)
class Prediction:
    participants: float
    rps: float
    p95_ms: dict[str, float]  # per action with an SLO, the best fit's

    def holds(self, slo_ms: dict[str, float]) -> bool:
        return all(self.p95_ms[a] <= slo for a, slo in slo_ms.items() if a in self.p95_ms)


@dataclass(frozen=True)
class Knee:
    """The predicted knee (participants playing), its range, and what sets it."""

    participants: float
    low: float
    high: float
    limit: str  # "p95 open_envelope" (the action whose SLO breaks first) or "throughput peak"


@dataclass(frozen=True)
class Calibration:
    steps: tuple[int, ...]  # the held steps' participants it was fitted on
    samples: tuple[StepSample, ...]
    usl: USL
    usl_range: dict[str, tuple[float, float]]  # lam, sigma, kappa: the bootstrap's BAND percentiles
    queues: dict[str, QueueFit]
    shares: dict[str, float]  # each action's share of the requests over the held steps
    slo_ms: dict[str, float]  # the peak gate's p95 SLO per fitted action
    knee: Knee
    notes: tuple[str, ...] = field(default_factory=tuple)  # what the fit could not see

    def predict(self, participants: float) -> Prediction:
        rps = float(self.usl.throughput(participants))
        return Prediction(participants, rps, {a: float(f.best.p95_ms(rps * self.shares[a]))
                                              for a, f in self.queues.items()})

    def backend_model(self, scenario: Scenario) -> dict:
        """The scenario's backend_model with every fitted action's queue replaced (the others as
        the scenario assumed them), as scenario data."""
        model = scenario.backend_model
        actions: dict[str, dict[str, object]] = {name: {"service_time": f"{a.service_time * 1000:g}ms", "concurrency": a.concurrency}
                   for name, a in model.actions.items()}
        for name, fit in self.queues.items():
            actions[name] = {"service_time": f"{fit.best.service_time * 1000:.3g}ms",
                             "concurrency": fit.best.servers}
        return {"timeout": f"{model.timeout:g}s", "actions": actions}

    def as_dict(self) -> dict:
        return {
            "prediction": True, "steps": list(self.steps),
            "usl": {"lam": self.usl.lam, "sigma": self.usl.sigma, "kappa": self.usl.kappa,
                    "peak_participants": None if math.isinf(self.usl.peak) else self.usl.peak,
                    "range": {k: list(v) for k, v in self.usl_range.items()}},
            "queues": {a: {"service_time_s": f.best.service_time, "concurrency": f.best.servers,
                           "concurrency_range": [f.least.servers, f.most.servers],
                           "capacity_rps_range": [f.least.capacity, f.most.capacity]}
                       for a, f in self.queues.items()},
            "knee": {"participants": _finite(self.knee.participants), "low": _finite(self.knee.low),
                     "high": _finite(self.knee.high), "limit": self.knee.limit},
            "notes": list(self.notes),
        }


def _finite(x: float) -> float | None:
    return None if math.isinf(x) else x


def calibrate(run: Run, scenario: Scenario, below: int | None = None, seed: int = 0) -> Calibration:
    """Fit a step load's held steps (those under `below` participants, if given: a hold-out)."""
    samples, steps = held_samples(run, scenario, seed)
    if not steps:
        raise CalibrationError("the run is no step load: calibrate on a peak phase (RUN/peak) or a "
                               "`rehearse swarm --steps N,N,...` run")
    if below is not None:
        samples = [s for s in samples if s.participants < below]
    if len(samples) < MIN_HELD:
        statuses = ", ".join(f"{s.target:,}: {s.status}" for s in steps)
        raise CalibrationError(f"{len(samples)} held step(s) to fit on ({statuses}); a fit needs {MIN_HELD}: "
                               "play more steps below the knee (--peak-steps / --steps N,N,N,...)")
    gate = scenario.gates.peak
    usl = fit_usl([s.participants for s in samples for _ in s.per_second],
                  [x for s in samples for x in s.per_second])
    boot = bootstrap_usl([(s.participants, s.per_second) for s in samples], seed)
    usl_range = {}
    for name in ("lam", "sigma", "kappa"):
        lo, hi = np.percentile([getattr(f, name) for f in boot], BAND, method="nearest")
        usl_range[name] = (float(lo), float(hi))
    actions = sorted({a for s in samples for a in s.actions})
    total = sum(s.rps for s in samples)
    shares, queues, slo_ms, notes = {}, {}, {}, []
    for action in actions:
        seen = [s.actions[action] for s in samples if action in s.actions]
        slo = gate.p95_for(action)
        if len(seen) < 2 or slo is None:
            continue
        queues[action] = fit_queue([a.rate for a in seen], [a.p95_ms for a in seen], [a.log_sd for a in seen])
        shares[action] = sum(s.actions[action].rate for s in samples if action in s.actions) / total
        slo_ms[action] = slo * 1000
    per_head = [s.rps / s.participants for s in samples]
    if max(per_head) > (1 + MIX_DRIFT) * min(per_head):
        notes.append(f"the load per participant changed across the steps ({per_head[0]:.3g} to {per_head[-1]:.3g} "
                     "requests/s): a step's fresh participants send their opening requests together, so throughput "
                     "against participants shows the journeys' mix as much as the target; the USL's throughput is "
                     "weak here (longer steps settle the mix); the queues, fitted on request rates, are not affected")
    unfitted = sorted(set(scenario.backend_model.actions) - set(queues))
    if unfitted:
        notes.append(f"not measured often enough to fit, kept as the scenario assumes: {', '.join(unfitted)}")
    knee = _knee(usl, boot, queues, shares, slo_ms)
    return Calibration(steps=tuple(s.participants for s in samples), samples=tuple(samples), usl=usl,
                       usl_range=usl_range, queues=queues, shares=shares, slo_ms=slo_ms, knee=knee,
                       notes=tuple(notes))


def _max_rate(queue: Queue, slo_ms: float) -> float:
    """The highest request rate at which the queue's p95 is within the SLO (bisection)."""
    lo, hi = 0.0, queue.capacity
    if float(queue.p95_ms(0.0)) > slo_ms:
        return 0.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(queue.p95_ms(mid)) <= slo_ms:
            lo = mid
        else:
            hi = mid
    return lo


def _participants_at(usl: USL, rps: float) -> float:
    """The fewest participants at which the USL reaches `rps` (its peak if it never does)."""
    lam, sigma, kappa = usl.lam, usl.sigma, usl.kappa
    a, b, c = rps * kappa, rps * (sigma - kappa) - lam, rps * (1 - sigma)
    if a == 0:
        return -c / b if b < 0 else usl.peak
    disc = b * b - 4 * a * c
    if disc < 0:
        return usl.peak
    return min(usl.peak, (-b - math.sqrt(disc)) / (2 * a))


def _knee_at(usl: USL, rates: dict[str, float], shares: dict[str, float]) -> tuple[float, str]:
    limits = {a: rates[a] / shares[a] for a in rates if shares.get(a)}
    if not limits:
        return usl.peak, "throughput peak"
    action = min(limits, key=lambda a: limits[a])
    n = _participants_at(usl, limits[action])
    return (n, f"p95 {action}") if n < usl.peak else (usl.peak, "throughput peak")


def _knee(usl: USL, boot: list[USL], queues: dict[str, QueueFit], shares: dict[str, float],
          slo_ms: dict[str, float]) -> Knee:
    best = {a: _max_rate(f.best, slo_ms[a]) for a, f in queues.items()}
    least = {a: _max_rate(f.least, slo_ms[a]) for a, f in queues.items()}
    most = {a: _max_rate(f.most, slo_ms[a]) for a, f in queues.items()}
    n, limit = _knee_at(usl, best, shares)
    spread = [_knee_at(b, best, shares)[0] for b in boot] or [n]
    lo, hi = np.percentile(spread, BAND, method="nearest")  # an unbounded knee stays unbounded
    return Knee(participants=float(n), low=float(min(lo, _knee_at(usl, least, shares)[0])),
                high=float(max(hi, _knee_at(usl, most, shares)[0])), limit=limit)
