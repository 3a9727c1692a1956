"""Erlang C for an M/M/c queue: the steady-state latency of a backend with c workers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rehearse.scenarios.errors import RehearseError

__all__ = [
    "QueueFigures",
    "QueueingError",
    "erlang_c",
    "erlang_c_probability",
    "response_quantiles",
    "response_survival",
    "wait_quantiles",
]

Floats = NDArray[np.float64]

# Halving the bracket 64 times takes any float bracket down to the last bit.
_BISECTION_STEPS = 64
# Below this relative gap between the drain rate and the service rate, use the equal-rates limit.
_EQUAL_RATES = 1e-6


class QueueingError(RehearseError):
    """A queue that cannot be modelled as given: a rate, a time or a count out of range."""


def erlang_c_probability(offered: ArrayLike, servers: int) -> Floats:
    """P(a request waits) for each offered load in erlangs, vectorised; 1.0 when unstable.

    Runs the Erlang B recursion B(k) = a*B(k-1) / (k + a*B(k-1)), which stays in [0, 1] and so
    is stable for thousands of servers, then C = B / (1 - rho * (1 - B)).
    """
    load = np.asarray(offered, dtype=np.float64)
    blocking = np.ones_like(load)
    step = np.empty_like(load)
    for k in range(1, servers + 1):
        np.multiply(load, blocking, out=step)
        np.divide(step, step + k, out=blocking)
    rho = load / servers
    with np.errstate(divide="ignore", invalid="ignore"):
        waiting = blocking / (1.0 - rho * (1.0 - blocking))
    return np.where(rho < 1.0, waiting, 1.0)


def wait_quantiles(q: float, wait_probability: ArrayLike, drain_rate: ArrayLike) -> Floats:
    """The q-quantile of the M/M/c wait, P(W > t) = C * exp(-drain_rate * t), vectorised."""
    c = np.asarray(wait_probability, dtype=np.float64)
    drain = np.asarray(drain_rate, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.log(c / (1.0 - q)) / drain
    t = np.where(drain > 0.0, t, math.inf)
    return np.where(c <= 1.0 - q, 0.0, t)


def response_survival(t: ArrayLike, wait_probability: ArrayLike, drain_rate: ArrayLike,
                      service_rate: float | Floats) -> Floats:
    """P(wait + service > t) in M/M/c: no wait with 1 - C, else an exponential wait, then service."""
    t = np.asarray(t, dtype=np.float64)
    c = np.asarray(wait_probability, dtype=np.float64)
    drain = np.asarray(drain_rate, dtype=np.float64)
    mu = service_rate
    served = np.exp(-mu * t)
    gap = drain - mu
    equal = np.abs(gap) < _EQUAL_RATES * mu
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sum_of_two = (drain * served - mu * np.exp(-drain * t)) / np.where(equal, 1.0, gap)
    sum_of_two = np.where(equal, served * (1.0 + mu * t), sum_of_two)
    return (1.0 - c) * served + c * sum_of_two


def response_quantiles(q: float, wait_probability: ArrayLike, drain_rate: ArrayLike,
                       service_rate: float | Floats) -> Floats:
    """The q-quantile of the M/M/c response time (wait + exponential service), by bisection."""
    c = np.asarray(wait_probability, dtype=np.float64)
    drain = np.asarray(drain_rate, dtype=np.float64)
    stable = drain > 0.0
    # P(W + S > t) <= P(W > t/2) + P(S > t/2) <= 2 exp(-min(rates) t / 2): a safe upper bracket.
    slowest = np.minimum(np.where(stable, drain, 1.0), service_rate)
    high = 2.0 * math.log(2.0 / (1.0 - q)) / slowest
    low = np.zeros_like(high)
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        above = response_survival(middle, c, drain, service_rate) > 1.0 - q
        low = np.where(above, middle, low)
        high = np.where(above, high, middle)
    return np.where(stable, high, math.inf)


def check_queue(arrival_rate: float, service_time: float, servers: int) -> None:
    """Reject a queue that has no meaning before computing anything with it."""
    if not (math.isfinite(arrival_rate) and arrival_rate >= 0):
        raise QueueingError(f"arrival rate {arrival_rate!r}/s is not usable: give a finite rate >= 0")
    if not (math.isfinite(service_time) and service_time > 0):
        raise QueueingError(f"service time {service_time!r} s is not usable: give a finite time > 0")
    if isinstance(servers, bool) or not isinstance(servers, int) or servers < 1:
        raise QueueingError(f"servers {servers!r} is not usable: give a whole number >= 1")


def check_quantile(q: float) -> None:
    """Reject a quantile outside (0, 1)."""
    if not 0.0 < q < 1.0:
        raise QueueingError(f"quantile {q!r} is out of range: give a value strictly between 0 and 1")


@dataclass(frozen=True)
class QueueFigures:
    """Steady-state figures of one M/M/c queue; when unstable (rho >= 1) the waits are infinite."""

    arrival_rate: float
    service_time: float
    servers: int
    utilisation: float
    wait_probability: float
    mean_wait: float
    mean_response: float

    @property
    def stable(self) -> bool:
        """Whether the queue settles: it does not when work arrives as fast as it is done."""
        return self.utilisation < 1.0

    @property
    def drain_rate(self) -> float:
        """c*mu - lambda: the rate at which the queue empties, the decay rate of the wait's tail."""
        return self.servers / self.service_time - self.arrival_rate

    def wait_quantile(self, q: float) -> float:
        """The q-quantile of the wait: 0 if q <= 1 - C, else -ln((1 - q) / C) / (c*mu - lambda)."""
        check_quantile(q)
        return float(wait_quantiles(q, self.wait_probability, self.drain_rate))

    def response_quantile(self, q: float) -> float:
        """The q-quantile of the response time (wait + exponential service), exact for M/M/c."""
        check_quantile(q)
        return float(response_quantiles(q, self.wait_probability, self.drain_rate,
                                        1.0 / self.service_time))

    @property
    def p95_response(self) -> float:
        """The 95th percentile of the response time, in seconds."""
        return self.response_quantile(0.95)


def erlang_c(arrival_rate: float, service_time: float, servers: int) -> QueueFigures:
    """M/M/c figures from Erlang C, e.g. erlang_c(2.0, 1.0, 3).mean_wait == 4/9 s."""
    check_queue(arrival_rate, service_time, servers)
    arrival_rate, service_time = float(arrival_rate), float(service_time)
    offered = arrival_rate * service_time
    rho = offered / servers
    if rho >= 1.0:
        return QueueFigures(arrival_rate, service_time, servers, rho, 1.0, math.inf, math.inf)
    waiting = float(erlang_c_probability(offered, servers))
    mean_wait = waiting * service_time / (servers - offered)
    return QueueFigures(arrival_rate, service_time, servers, rho, waiting, mean_wait,
                        mean_wait + service_time)
