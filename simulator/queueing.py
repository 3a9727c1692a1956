"""The modelled backend's queues: latency, backlog and timeouts of each action's workers.

Two models of one action's backend (c workers, exponential service, a client timeout):

- `simulate_mm_c`, per request in SimPy: the reference the others are checked against.
- `bucket_latency`, a fluid model over time buckets for full-scale runs: Erlang C while the
  backend keeps up, a carried-over backlog when it does not.

`ActionQueues` gives the simulator the bucket model of each action of a scenario's backend.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import accumulate
from types import MappingProxyType
from typing import TYPE_CHECKING, Generator, Mapping

import numpy as np
import simpy
from numpy.typing import ArrayLike

from rehearse.simulator.erlang import (
    Floats,
    QueueFigures,
    QueueingError,
    check_queue,
    erlang_c,
    erlang_c_probability,
    response_quantiles,
)

if TYPE_CHECKING:
    from rehearse.scenarios.limits import BackendModel
    from rehearse.scenarios.model import Scenario

__all__ = [
    "ActionQueue",
    "ActionQueues",
    "BucketFigures",
    "SimulatedQueue",
    "bucket_latency",
    "simulate_mm_c",
]

P95 = 0.95
# The 95th percentile of an exponential service time, in mean service times: ln(20).
_SERVICE_P95 = math.log(1.0 / (1.0 - P95))


@dataclass(frozen=True)
class SimulatedQueue:
    """What a per-request run of one queue measured; waits and responses are of completed requests."""

    requests: int
    completed: int
    timed_out: int
    mean_wait: float
    p95_response: float


def simulate_mm_c(arrival_rate: float, service_time: float, servers: int, requests: int,
                  seed: int, timeout: float | None = None) -> SimulatedQueue:
    """Run `requests` Poisson arrivals through c exponential workers in simulated time.

    A request still queued `timeout` seconds after arriving gives up (timed out). The same
    arguments give the same figures: one seeded generator draws every time, in event order.
    """
    check_queue(arrival_rate, service_time, servers)
    if arrival_rate <= 0 or requests < 1:
        raise QueueingError(f"cannot simulate {requests!r} requests at {arrival_rate!r}/s: "
                            "give at least one request and a rate > 0")
    if timeout is not None and not timeout > 0:
        raise QueueingError(f"timeout {timeout!r} s is not usable: give a time > 0, or None")
    rng = random.Random(seed)
    env = simpy.Environment()
    workers = simpy.Resource(env, capacity=servers)
    waits: list[float] = []
    responses: list[float] = []

    def request() -> Generator[simpy.Event, object, None]:
        arrived = env.now
        claim = workers.request()
        if timeout is not None:
            yield simpy.AnyOf(env, [claim, env.timeout(timeout)])
            if not claim.triggered:
                claim.cancel()
                return
        else:
            yield claim
        waits.append(env.now - arrived)
        yield env.timeout(rng.expovariate(1.0 / service_time))
        workers.release(claim)
        responses.append(env.now - arrived)

    def arrivals() -> Generator[simpy.Event, object, None]:
        for _ in range(requests):
            yield env.timeout(rng.expovariate(arrival_rate))
            env.process(request())

    env.process(arrivals())
    env.run()
    completed = len(responses)
    return SimulatedQueue(
        requests=requests,
        completed=completed,
        timed_out=requests - completed,
        mean_wait=float(np.mean(waits)) if waits else math.nan,
        p95_response=float(np.quantile(responses, P95)) if responses else math.nan,
    )


@dataclass(frozen=True)
class BucketFigures:
    """Per-bucket figures of one action's queue; counts are expected (fractional) requests.

    `served` counts requests finished in the bucket (a backlog is served later), `timed_out`
    those arriving in it that gave up, `backlog` the queue left at its end. Latencies are of the
    bucket's arrivals: a request that gives up counts as the timeout (it waited that long), one
    that is served as its wait plus its service.
    """

    served: Floats
    timed_out: Floats
    backlog: Floats
    mean_ms: Floats
    p95_ms: Floats


def bucket_latency(arrivals: ArrayLike, bucket_s: float, service_time: float | ArrayLike, servers: int,
                   timeout: float) -> BucketFigures:
    """Fluid model of one action's queue over buckets; arrivals[i] requests arrive in bucket i.

    While the backend keeps up (no backlog, load under capacity) a bucket is an M/M/c queue in
    steady state (Erlang C). Otherwise the queue is a fluid: it grows at load - capacity, each
    request waits queue / capacity, and requests that would wait past `timeout` give up and
    leave, so the backlog never exceeds capacity * timeout. The p95 there adds the exponential
    service's own p95 to the wait's (an upper bound of the sum's quantile).
    """
    counts = _check_buckets(arrivals, bucket_s, timeout)
    service = np.broadcast_to(np.asarray(service_time, dtype=np.float64), counts.shape)
    check_queue(0.0, float(service.min()) if len(service) else 1.0, servers)  # rates: per bucket above
    if not len(service) or (service == service[0]).all():
        service_time = float(np.asarray(service_time, dtype=np.float64).flat[0])
    else:
        service_time = service.copy()  # a slowdown: each bucket its own service time
    capacity = servers / service_time
    per_bucket = np.broadcast_to(capacity * bucket_s, counts.shape)
    max_queue = np.broadcast_to(capacity * timeout, counts.shape)

    def carry(backlog: float, bucket: tuple[float, float, float]) -> float:
        arrived, serves, cap = bucket
        return min(max(backlog + arrived - serves, 0.0), cap)

    steps = zip(counts.tolist(), per_bucket.tolist(), max_queue.tolist())
    start = np.fromiter(accumulate(steps, carry, initial=0.0), np.float64)[:-1]
    unbounded_end = start + counts - per_bucket
    backlog = np.clip(unbounded_end, 0.0, max_queue)
    rate = counts / bucket_s
    calm = (start == 0.0) & (unbounded_end <= 0.0) & (rate * service_time < servers)

    timed_out = np.maximum(unbounded_end - max_queue, 0.0)
    served = start + counts - timed_out - backlog
    mean_s, p95_s = _fluid_latency(start, unbounded_end, counts, timed_out, capacity,
                                   max_queue, service_time)
    if calm.any():
        steady = _steady_buckets(rate[calm], service_time if isinstance(service_time, float) else service_time[calm],
                                 servers, timeout)
        timed_out[calm] = counts[calm] * steady.gave_up
        served[calm] = counts[calm] - timed_out[calm]
        mean_s[calm] = steady.mean_s
        p95_s[calm] = steady.p95_s
    return BucketFigures(served=_frozen(served), timed_out=_frozen(timed_out),
                         backlog=_frozen(backlog), mean_ms=_frozen(mean_s * 1000.0),
                         p95_ms=_frozen(p95_s * 1000.0))


def _check_buckets(arrivals: ArrayLike, bucket_s: float, timeout: float) -> Floats:
    """The arrivals as floats, once they, the bucket width and the timeout are known usable."""
    counts = np.asarray(arrivals, dtype=np.float64)
    if counts.ndim != 1:
        raise QueueingError(f"arrivals have shape {counts.shape}: give one count per bucket (1-D)")
    if not (np.isfinite(counts).all() and (counts >= 0).all()):
        raise QueueingError("arrivals hold a negative or non-finite count: give counts >= 0")
    if not (math.isfinite(bucket_s) and bucket_s > 0):
        raise QueueingError(f"bucket width {bucket_s!r} s is not usable: give a time > 0")
    if not (math.isfinite(timeout) and timeout > 0):
        raise QueueingError(f"timeout {timeout!r} s is not usable: give a time > 0")
    return counts


def _fluid_latency(start: Floats, end: Floats, counts: Floats, timed_out: Floats,
                   capacity: float | Floats, max_queue: Floats, service_time: float | Floats) -> tuple[Floats, Floats]:
    """Mean and p95 latency (s) when the queue moves linearly from `start` to `end` in a bucket.

    Arrivals are uniform over the bucket, so the queue each one sees is uniform between the
    two, clamped to [0, max_queue]; clamping is monotonic, so quantiles clamp too.
    """
    low, high = np.minimum(start, end), np.maximum(start, end)
    mean_queue = _clamped_uniform_mean(low, high, max_queue)
    p95_queue = np.clip(low + P95 * (high - low), 0.0, max_queue)
    with np.errstate(divide="ignore", invalid="ignore"):
        gave_up = np.where(counts > 0, timed_out / counts, 0.0)
    mean_s = mean_queue / capacity + (1.0 - gave_up) * service_time
    p95_s = p95_queue / capacity + _SERVICE_P95 * service_time
    return mean_s, p95_s


def _clamped_uniform_mean(low: Floats, high: Floats, top: Floats) -> Floats:
    """E[clamp(U, 0, top)] for U uniform on [low, high], from the antiderivative of the clamp."""

    def integral(x: Floats) -> Floats:
        inside = np.clip(x, 0.0, top)
        return 0.5 * inside * inside + top * np.maximum(x - top, 0.0)

    width = high - low
    point = np.clip(low, 0.0, top)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = (integral(high) - integral(low)) / width
    return np.where(width > 1e-9 * (1.0 + np.abs(low)), spread, point)


@dataclass(frozen=True)
class _Steady:
    """Erlang C figures of the buckets where the backend keeps up."""

    gave_up: Floats
    mean_s: Floats
    p95_s: Floats


def _steady_buckets(rate: Floats, service_time: float | Floats, servers: int, timeout: float) -> _Steady:
    """Steady-state M/M/c latency per bucket; requests waiting past the timeout give up."""
    waits = erlang_c_probability(rate * service_time, servers)
    drain = servers / service_time - rate
    tail = np.exp(-drain * timeout)
    gave_up = waits * tail
    mean_wait = waits * (1.0 - tail) / drain  # E[min(wait, timeout)]
    # No request waits past the timeout: cap the tail where the fluid model's tail ends.
    p95 = np.minimum(response_quantiles(P95, waits, drain, 1.0 / service_time),
                     timeout + _SERVICE_P95 * service_time)
    return _Steady(gave_up, mean_wait + (1.0 - gave_up) * service_time, p95)


def _frozen(values: Floats) -> Floats:
    """The array, made read-only so that figures handed out cannot be changed in place."""
    values.flags.writeable = False
    return values


@dataclass(frozen=True)
class ActionQueue:
    """One action's modelled backend: its workers, their mean service time, the client timeout."""

    action: str
    service_time: float
    servers: int
    timeout: float

    def figures(self, arrival_rate: float) -> QueueFigures:
        """Steady-state Erlang C figures at a constant arrival rate (requests per second)."""
        return erlang_c(arrival_rate, self.service_time, self.servers)

    def latency(self, arrivals: ArrayLike, bucket_s: float, slower: ArrayLike | None = None) -> BucketFigures:
        """The bucket model of this action for arrivals counted per bucket of `bucket_s` s;
        `slower` multiplies the service time per bucket (a drill's slowdown)."""
        service = self.service_time if slower is None else self.service_time * np.asarray(slower, dtype=np.float64)
        return bucket_latency(arrivals, bucket_s, service, self.servers, self.timeout)


@dataclass(frozen=True)
class ActionQueues:
    """The queue of every action a scenario's `backend_model` describes."""

    queues: Mapping[str, ActionQueue]

    @classmethod
    def from_backend(cls, backend: BackendModel) -> ActionQueues:
        """One queue per action of the backend model, all with its timeout."""
        queues: dict[str, ActionQueue] = {name: ActionQueue(name, float(spec.service_time), spec.concurrency,
                                    float(backend.timeout))
                  for name, spec in backend.actions.items()}
        return cls(MappingProxyType(queues))

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> ActionQueues:
        """The queues of a scenario's `backend_model` section."""
        return cls.from_backend(scenario.backend_model)

    def for_action(self, action: str) -> ActionQueue:
        """The queue that serves `action`; an action the model does not list is an error."""
        try:
            return self.queues[action]
        except KeyError:
            known = ", ".join(sorted(self.queues)) or "none"
            raise QueueingError(
                f"backend_model has no queue for action {action!r} (it has: {known}): add "
                f"'{action}: {{service_time: ..., concurrency: ...}}' under backend_model.actions"
            ) from None

    def latency(self, action: str, arrivals: ArrayLike, bucket_s: float,
                slower: ArrayLike | None = None) -> BucketFigures:
        """The bucket model of one action: `for_action(action).latency(arrivals, bucket_s, slower)`."""
        return self.for_action(action).latency(arrivals, bucket_s, slower)
