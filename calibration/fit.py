"""A step load calibrated: the USL through the target's throughput against its concurrency, an
M/M/c queue per action through its p95s, and the knee they predict, with its range. A
prediction, never a measurement.

The target's curves are fitted on request rates, which are its own; participants enter only at
the end, through the load each participant sent at the highest step fitted (`per_participant`:
the journeys' doing, not the target's), so the knee in participants holds for that load.

    calibration = calibrate(run, scenario)      # CalibrationError: fewer than MIN_HELD held steps
    calibration.predict(16_000).p95_ms          # per action, at 16,000 participants' load
    calibration.knee.participants, calibration.knee.low, calibration.knee.high
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rehearse.calibration.queues import Queue, QueueFit, fit_queue
from rehearse.calibration.samples import StepSample, held_samples
from rehearse.calibration.usl import USL, bootstrap_usl, fit_usl, step_points
from rehearse.observations import Run
from rehearse.scenarios import RehearseError, Scenario

MIN_HELD = 3  # held steps a fit needs
BAND = (10, 90)  # percentiles of the bootstrap the range is given by


class CalibrationError(RehearseError):
    """A run that cannot be calibrated on (no step load, too few held steps)."""

    exit_code = 2


@dataclass(frozen=True)
class Prediction:
    rps: float  # requests/s offered
    concurrency: float  # requests in flight the USL needs to carry them (inf: it cannot)
    p95_ms: dict[str, float]  # per fitted action, the best queue's at its share of the rate


@dataclass(frozen=True)
class Knee:
    """The predicted knee (participants playing), its range, and what sets it."""

    participants: float
    low: float
    high: float
    limit: str  # "p95 open_envelope" (the action whose SLO breaks first) or the USL's ceiling

    @property
    def text(self) -> str:
        """"6,292 participants (4,367-10,977), set by p95 open_envelope"."""
        return f"{count_text(self.participants)} participants ({count_text(self.low)}-{count_text(self.high)}), set by {self.limit}"


def count_text(x: float) -> str:
    """A predicted count as shown: "6,292", "unbounded", or "not measured" (NaN)."""
    return "unbounded" if x == math.inf else "not measured" if x != x else f"{x:,.0f}"


@dataclass(frozen=True)
class Calibration:
    steps: tuple[int, ...]  # the held steps' participants it was fitted on
    samples: tuple[StepSample, ...]
    usl: USL
    usl_range: dict[str, tuple[float, float]]  # lam, sigma, kappa, max_throughput: the bootstrap's BAND
    queues: dict[str, QueueFit]
    shares: dict[str, float]  # each action's share of the requests over the held steps
    slo_ms: dict[str, float]  # the peak gate's p95 SLO per fitted action
    per_participant: float  # requests/s a participant sent at the highest step fitted
    knee: Knee
    peak_target: int  # the peak gate's participants playing
    notes: tuple[str, ...] = field(default_factory=tuple)  # what the fit could not see

    def at_rates(self, rates: dict[str, float]) -> Prediction:
        """The prediction for these requests/s per action."""
        rps = sum(rates.values())
        return Prediction(rps, self.usl.concurrency_for(rps),
                          {a: float(f.best.p95_ms(rates[a])) for a, f in self.queues.items() if a in rates})

    def predict(self, participants: float) -> Prediction:
        """The prediction for `participants` playing, each sending `per_participant` requests/s."""
        rps = participants * self.per_participant
        return self.at_rates({a: rps * share for a, share in self.shares.items()})

    def replicas_for(self, participants: int) -> int | None:
        """Copies of the target that carry `participants` at the predicted knee each, if the
        target scales out linearly (None: the knee is unbounded, one is enough as far as the fit
        sees)."""
        knee = self.knee.participants
        if not math.isfinite(knee) or knee <= 0:  # unbounded, or no load at all holds: no number of copies
            return None
        return max(1, math.ceil(participants / knee))

    def backend_model(self, scenario: Scenario) -> dict:
        """The scenario's backend_model with every fitted action's queue replaced (the others as
        the scenario assumed them), as scenario data."""
        model = scenario.backend_model
        actions: dict[str, dict[str, object]] = {
            name: {"service_time": f"{a.service_time * 1000:g}ms", "concurrency": a.concurrency}
            for name, a in model.actions.items()}
        for name, fit in self.queues.items():
            if not fit.unbounded:  # a capacity the data bounded; else the scenario's assumption stands
                actions[name] = {"service_time": _ms(fit.best.service_time), "concurrency": fit.best.servers}
        return {"timeout": f"{model.timeout:g}s", "actions": actions}

    def as_dict(self) -> dict:
        return {
            "prediction": True, "steps": list(self.steps), "per_participant_rps": self.per_participant,
            "usl": {"lam": self.usl.lam, "sigma": self.usl.sigma, "kappa": self.usl.kappa,
                    "peak_concurrency": _finite(self.usl.peak), "max_rps": _finite(self.usl.max_throughput),
                    "range": {k: [_finite(v) for v in pair] for k, pair in self.usl_range.items()}},
            "queues": {a: {"service_time_s": f.best.service_time, "concurrency": f.best.servers,
                           "concurrency_range": [f.least.servers, f.most.servers],
                           "capacity_rps_range": [f.least.capacity, f.most.capacity]}
                       for a, f in self.queues.items()},
            "knee": {"participants": _finite(self.knee.participants), "low": _finite(self.knee.low),
                     "high": _finite(self.knee.high), "limit": self.knee.limit},
            "replicas_for_peak": {"participants": self.peak_target, "replicas": self.replicas_for(self.peak_target),
                                  "assumes": "linear scale-out"},
            "notes": list(self.notes),
        }


def _finite(x: float) -> float | None:
    return None if not math.isfinite(x) else x


def _ms(seconds: float) -> str:
    """A duration the scenario reads back: fixed-point milliseconds ("1.23ms", "1234.5ms")."""
    return f"{seconds * 1000:.3f}".rstrip("0").rstrip(".") + "ms"


def calibrate(run: Run, scenario: Scenario, below: int | None = None, seed: int = 0) -> Calibration:
    """Fit a step load's held steps (those under `below` participants, if given: a hold-out)."""
    samples, steps = held_samples(run, scenario, seed)
    if not steps:
        raise CalibrationError("the run is no step load: calibrate on a peak phase (RUN/peak) or a "
                               "`rehearse swarm --steps N,N,...` run")
    samples = [s for s in samples if s.per_second and s.rps > 0 and math.isfinite(s.per_participant)
               and s.per_participant > 0]  # a held step that answered nothing measures nothing
    if below is not None:
        samples = [s for s in samples if s.participants < below]
    if len(samples) < MIN_HELD:
        statuses = ", ".join(f"{s.target:,}: {s.status}" for s in steps)
        hold_out = f" and one more above them to hold out (below {below:,})" if below is not None else ""
        raise CalibrationError(f"{len(samples)} held step(s) with answers to fit on ({statuses}); a fit needs "
                               f"{MIN_HELD}{hold_out}: play more steps below the knee (--peak-steps / --steps N,N,N,...)")
    gate = scenario.gates.peak
    try:
        usl = fit_usl(*step_points([s.per_second for s in samples]))
    except ValueError as exc:
        raise CalibrationError(f"the USL does not fit these steps ({exc}): play steps further apart") from None
    boot = bootstrap_usl([s.per_second for s in samples], seed) or [usl]
    usl_range = {}
    for name in ("lam", "sigma", "kappa", "max_throughput"):
        lo, hi = np.percentile([getattr(f, name) for f in boot], BAND, method="nearest")
        usl_range[name] = (float(lo), float(hi))
    total = sum(s.rps for s in samples)
    shares, queues, slo_ms, notes = {}, {}, {}, []
    for action in sorted({a for s in samples for a in s.actions}):
        seen = [s.actions[action] for s in samples if action in s.actions]
        slo = gate.p95_for(action)
        if len(seen) < 2 or slo is None:
            continue
        queues[action] = fit_queue([a.rate for a in seen], [a.p95_ms for a in seen], [a.log_sd for a in seen])
        shares[action] = sum(a.rate for a in seen) / total
        slo_ms[action] = slo * 1000
    open_ended = sorted(a for a, f in queues.items() if f.unbounded)
    if open_ended:
        notes.append(f"latency did not rise with load enough to bound the capacity of {', '.join(open_ended)}: "
                     "their knee is open above, and the calibrated backend_model keeps the scenario's assumption "
                     "for them")
    unfitted = sorted(set(scenario.backend_model.actions) - set(queues))
    if unfitted:
        notes.append(f"not measured often enough to fit, kept as the scenario assumes: {', '.join(unfitted)}")
    per_participant = samples[-1].per_participant
    knee = _knee(usl, usl_range["max_throughput"], queues, shares, slo_ms, per_participant)
    return Calibration(steps=tuple(s.participants for s in samples), samples=tuple(samples), usl=usl,
                       usl_range=usl_range, queues=queues, shares=shares, slo_ms=slo_ms,
                       per_participant=per_participant, knee=knee, peak_target=gate.target_active_users,
                       notes=tuple(notes))


def _max_rate(queue: Queue, slo_ms: float) -> float:
    """The highest request rate at which the queue's p95 is within the SLO (bisection)."""
    lo, hi = 0.0, queue.capacity
    if float(queue.p95_ms(0.0)) > slo_ms:
        return 0.0
    for _ in range(40):  # a part in 10^12 of the capacity
        mid = (lo + hi) / 2
        if float(queue.p95_ms(mid)) <= slo_ms:
            lo = mid
        else:
            hi = mid
    return lo


def _limit(rates: dict[str, float], shares: dict[str, float]) -> tuple[float, str]:
    """The most requests/s in all at which every action's p95 holds at its share: the first
    action's SLO to break (inf, "" when none is bounded)."""
    limits = {a: rates[a] / shares[a] for a in rates if shares.get(a)}
    action = min(limits, key=lambda a: limits[a], default=None)
    return (math.inf, "") if action is None else (limits[action], f"p95 {action}")


def _knee(usl: USL, ceiling: tuple[float, float], queues: dict[str, QueueFit], shares: dict[str, float],
          slo_ms: dict[str, float], per_participant: float) -> Knee:
    """The knee where the first action's p95 reaches its SLO (the queues), else, when no queue's
    capacity was bounded by the data, the USL's throughput ceiling (inf when it has none either);
    its range from the least and most capacious queues consistent with the data."""
    best = {a: _max_rate(f.best, slo_ms[a]) for a, f in queues.items() if not f.unbounded}
    least = {a: _max_rate(f.least, slo_ms[a]) for a, f in queues.items()}
    most = {a: _max_rate(f.most, slo_ms[a]) for a, f in queues.items() if not f.unbounded}
    rps, limit = _limit(best, shares)
    low, high = _limit(least, shares)[0], _limit(most, shares)[0]
    if not limit:  # latency rose nowhere enough to bound a queue: the USL's ceiling, if it has one
        rps, limit = usl.max_throughput, "the USL's throughput ceiling"
        low, high = min(low, ceiling[0]), ceiling[1]
    return Knee(participants=rps / per_participant, low=low / per_participant, high=high / per_participant,
                limit=limit)
