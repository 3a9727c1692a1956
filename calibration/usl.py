"""The Universal Scalability Law, fitted to throughput against concurrency (Gunther):

    X(N) = lam * N / (1 + sigma * (N - 1) + kappa * N * (N - 1))

lam is the throughput of one participant, sigma the contention (the share of work that waits in
line), kappa the coherency cost (work that grows with every pair of participants). With kappa > 0
throughput peaks at N* = sqrt((1 - sigma) / kappa) and falls past it. The fit is linear least
squares on N / X = a + b (N - 1) + c N (N - 1) (a = 1/lam, b = sigma/lam, c = kappa/lam) over
every second of every held step, with sigma and kappa kept >= 0; its spread is a bootstrap over
those seconds.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

BOOTSTRAP = 200


@dataclass(frozen=True)
class USL:
    lam: float  # requests/s of one participant
    sigma: float  # contention
    kappa: float  # coherency

    def throughput(self, n: ArrayLike) -> np.ndarray:
        n = np.asarray(n, dtype=float)
        return self.lam * n / (1 + self.sigma * (n - 1) + self.kappa * n * (n - 1))

    @property
    def peak(self) -> float:
        """The concurrency of the highest throughput (inf when nothing costs coherency)."""
        return math.sqrt(max(1 - self.sigma, 0.0) / self.kappa) if self.kappa > 0 else math.inf


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
        if named["a"] <= 0 or any(named.get(k, 0.0) < 0 for k in "bc"):
            continue
        residual = float(np.sum((design @ coef - y) ** 2))
        a = float(named["a"])
        fit = USL(lam=1 / a, sigma=float(named.get("b", 0.0)) / a, kappa=float(named.get("c", 0.0)) / a)
        if best is None or residual < best[0] - 1e-12 * max(residual, 1.0):
            best = (residual, fit)
    if best is None:  # the throughput per participant never positive: cannot happen for x > 0
        raise ValueError("no USL fits these throughputs")
    return best[1]


def fit_usl(participants: ArrayLike, throughput: ArrayLike) -> USL:
    """The USL through (participants, requests/s) points; every throughput must be above 0."""
    n, x = np.asarray(participants, dtype=float), np.asarray(throughput, dtype=float)
    keep = np.isfinite(n) & np.isfinite(x) & (x > 0) & (n >= 1)
    if len(np.unique(n[keep])) < 2:
        raise ValueError("a USL fit needs throughput at two concurrencies or more")
    return _solve(n[keep], x[keep])


def bootstrap_usl(groups: list[tuple[int, tuple[float, ...]]], seed: int = 0,
                  rounds: int = BOOTSTRAP) -> list[USL]:
    """USL fits to resamples of each step's seconds (`groups`: participants, requests per second)."""
    rng = np.random.default_rng(seed)
    fits = []
    for _ in range(rounds):
        n, x = [], []
        for participants, seconds in groups:
            picked = rng.choice(np.asarray(seconds, dtype=float), size=len(seconds), replace=True)
            n += [participants] * len(picked)
            x += list(picked)
        try:
            fits.append(fit_usl(n, x))
        except ValueError:
            continue
    return fits
