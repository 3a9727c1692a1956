"""The Universal Scalability Law (Gunther), fitted to the target's throughput against its
concurrency (requests in flight):

    X(N) = lam * N / (1 + sigma * (N - 1) + kappa * N * (N - 1))

lam is the throughput of one request in flight (1 / its latency alone), sigma the contention
(the share of work that waits in line), kappa the coherency cost (work that grows with every
pair in flight). With kappa > 0 throughput peaks at N* = sqrt((1 - sigma) / kappa) and falls
past it; with kappa = 0 it approaches lam / sigma. The fit is linear least squares on
N / X = a + b (N - 1) + c N (N - 1) (a = 1/lam, b = sigma/lam, c = kappa/lam; N / X is the mean
latency, by Little's law) through one point per held step, with sigma in [0, 1] and kappa >= 0;
its spread is a bootstrap over each step's seconds.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

BOOTSTRAP = 200
TINY = 1e-9  # a coefficient below this is rounding, not contention (kappa: its square)


@dataclass(frozen=True)
class USL:
    lam: float  # requests/s of one request in flight
    sigma: float  # contention
    kappa: float  # coherency

    def throughput(self, n: ArrayLike) -> np.ndarray:
        n = np.asarray(n, dtype=float)
        return self.lam * n / (1 + self.sigma * (n - 1) + self.kappa * n * (n - 1))

    @property
    def peak(self) -> float:
        """The concurrency of the highest throughput (inf when nothing costs coherency)."""
        return math.sqrt(max(1 - self.sigma, 0.0) / self.kappa) if self.kappa > 0 else math.inf

    @property
    def max_throughput(self) -> float:
        """The most requests/s the target serves: at its peak, or lam / sigma approached (inf
        when neither contention nor coherency was seen)."""
        if self.kappa > 0:
            return float(self.throughput(self.peak))
        return self.lam / self.sigma if self.sigma > 0 else math.inf

    def concurrency_for(self, rps: float) -> float:
        """The fewest requests in flight that carry `rps` (inf if the target never serves it)."""
        if rps >= self.max_throughput:
            return math.inf
        a, b, c = rps * self.kappa, rps * (self.sigma - self.kappa) - self.lam, rps * (1 - self.sigma)
        if a == 0:
            return -c / b
        # the smaller root of a N^2 + b N + c, written so that a tiny a (kappa) loses no precision
        return 2 * c / (-b + math.sqrt(max(b * b - 4 * a * c, 0.0)))


def _solve(n: np.ndarray, x: np.ndarray) -> USL:
    """The least-squares USL with sigma, kappa >= 0: the best of the fits with each of them free
    or held at 0 whose coefficients are all non-negative."""
    y = n / x
    columns = {"b": n - 1, "c": n * (n - 1)}
    best: tuple[float, USL] | None = None
    for free in itertools.chain.from_iterable(itertools.combinations("bc", k) for k in (2, 1, 0)):
        design = np.column_stack([np.ones_like(n)] + [columns[k] for k in free])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        named = dict(zip(("a", *free), coef))
        # sigma in [0, 1] and kappa >= 0: a share of work in line, a cost per pair
        if named["a"] <= 0 or any(named.get(k, 0.0) < 0 for k in "bc") or named.get("b", 0.0) > named["a"]:
            continue
        residual = float(np.sum((design @ coef - y) ** 2))
        a = float(named["a"])
        sigma, kappa = float(named.get("b", 0.0)) / a, float(named.get("c", 0.0)) / a
        fit = USL(lam=1 / a, sigma=sigma if sigma > TINY else 0.0, kappa=kappa if kappa > TINY ** 2 else 0.0)
        if best is None or residual < best[0] - 1e-12 * max(residual, 1.0):
            best = (residual, fit)
    if best is None:  # a (the latency alone) is the mean of positive N / X when b = c = 0
        raise ValueError("no USL fits these throughputs")
    return best[1]


def fit_usl(concurrency: ArrayLike, throughput: ArrayLike) -> USL:
    """The USL through (requests in flight, requests/s) points, those with both above 0."""
    n, x = np.asarray(concurrency, dtype=float), np.asarray(throughput, dtype=float)
    keep = np.isfinite(n) & np.isfinite(x) & (x > 0) & (n > 0)
    if len(np.unique(n[keep])) < 2:
        raise ValueError("a USL fit needs throughput at two concurrencies or more")
    return _solve(n[keep], x[keep])


def step_points(groups: Sequence[Sequence[tuple[float, float]]] | Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One (requests in flight, requests/s) point per step, over its seconds: a second's own
    concurrency is its throughput times its latency, so fitting seconds would put the same noise
    on both axes and find contention that is not there."""
    points = [np.asarray(g, dtype=float).mean(axis=0) for g in groups if len(g)]
    both = np.asarray(points, dtype=float).reshape(-1, 2)
    return both[:, 0], both[:, 1]


def bootstrap_usl(groups: Sequence[Sequence[tuple[float, float]]], seed: int = 0,
                  rounds: int = BOOTSTRAP) -> list[USL]:
    """USL fits to the step points of resamples of each step's seconds (`groups`: per step,
    (requests in flight, requests/s) each second)."""
    rng = np.random.default_rng(seed)
    fits = []
    arrays = [np.asarray(g, dtype=float) for g in groups if len(g)]
    for _ in range(rounds):
        n, x = step_points([a[rng.integers(0, len(a), len(a))] for a in arrays])
        try:
            fits.append(fit_usl(n, x))
        except ValueError:
            continue
    return fits
