"""The simulator's backend model fitted per action: an M/M/c queue (service time S, c workers)
whose p95 response at each held step's request rate is nearest the p95 measured there.

For each candidate c the best S is found on a grid (log-spaced, then refined); the error is the
sum over steps of ((log p95 predicted - log p95 measured) / spread)^2, the spread being the
step's bootstrap spread of log p95, at least FLOOR (the run-to-run variation one step's
sampling does not show). Every (c, S) within BAND of the best error is consistent with what
was measured: when latency did not rise with load, any large c fits and the band says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rehearse.simulator.erlang import erlang_c_probability, response_quantiles

CANDIDATES = tuple(sorted({int(round(c)) for c in np.geomspace(1, 4096, 49)}))
FLOOR = 0.15  # log p95 spread at least this (about 15 %): runs on a shared machine vary
BAND = 2.71  # error above the best that is still consistent (chi-square, one parameter, 90 %)
GRID = 96


@dataclass(frozen=True)
class Queue:
    """One action's queue: service time (s) and workers."""

    service_time: float
    servers: int

    @property
    def capacity(self) -> float:
        """Requests/s it serves at most."""
        return self.servers / self.service_time

    def p95_ms(self, rate: np.ndarray | float) -> np.ndarray:
        return _p95(np.asarray(rate, dtype=float), np.asarray(self.service_time, dtype=float), self.servers) * 1000


@dataclass(frozen=True)
class QueueFit:
    best: Queue
    consistent: tuple[Queue, ...]  # every (c, S) within BAND of the best, the best among them
    error: float

    @property
    def least(self) -> Queue:
        """The consistent queue with the least capacity (the cautious prediction)."""
        return min(self.consistent, key=lambda q: q.capacity)

    @property
    def most(self) -> Queue:
        return max(self.consistent, key=lambda q: q.capacity)

    @property
    def unbounded(self) -> bool:
        """Whether queues with the most workers tried fit too: the data does not bound capacity."""
        return self.most.servers == CANDIDATES[-1]


def _p95(rate: np.ndarray, service: np.ndarray, servers: int) -> np.ndarray:
    """M/M/c p95 response (s) for rates and service times broadcast together; inf when unstable."""
    rate, service = np.broadcast_arrays(rate, service)
    offered = rate * service
    waiting = erlang_c_probability(offered, servers)
    drain = servers / service - rate
    p95 = response_quantiles(0.95, waiting, drain, 1.0 / service)
    return np.where(offered < servers, p95, math.inf)


def _errors(rates: np.ndarray, p95_s: np.ndarray, spread: np.ndarray, services: np.ndarray,
            servers: int) -> np.ndarray:
    predicted = _p95(rates[None, :], services[:, None], servers)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.log(predicted) - np.log(p95_s)[None, :]) / spread[None, :]
    return np.where(np.isfinite(predicted).all(axis=1), np.sum(z ** 2, axis=1), math.inf)


def fit_queue(rates: list[float], p95_ms: list[float], log_sd: list[float]) -> QueueFit:
    """The M/M/c queues consistent with an action's p95 at each rate (requests/s)."""
    r = np.asarray(rates, dtype=float)
    p = np.asarray(p95_ms, dtype=float) / 1000
    spread = np.maximum(np.asarray(log_sd, dtype=float), FLOOR)
    # with no queueing, the p95 of an exponential service is S ln 20: S lies below every p95
    low, high = float(p.min()) / 200, float(p.max()) / math.log(20) * 1.5
    fits: list[tuple[float, Queue]] = []
    for servers in CANDIDATES:
        grid = np.geomspace(low, high, GRID)
        errors = _errors(r, p, spread, grid, servers)
        k = int(np.argmin(errors))
        if not math.isfinite(errors[k]):
            continue
        fine = np.geomspace(grid[max(k - 1, 0)], grid[min(k + 1, GRID - 1)], 33)
        refined = _errors(r, p, spread, fine, servers)
        j = int(np.argmin(refined))
        fits.append((float(refined[j]), Queue(float(fine[j]), servers)))
    if not fits:
        raise ValueError("no queue serves these rates")
    error, best = min(fits, key=lambda f: (f[0], f[1].servers))
    consistent = tuple(q for e, q in fits if e <= error + BAND)
    return QueueFit(best=best, consistent=consistent, error=error)
