"""The load generator measuring itself: how late its event loop wakes, how much CPU it burns.

A saturated generator delays every request it sends, and that delay is blamed on the target.
Two figures per gauge period tell the two apart:

- `LoopLag`: a loop asks to sleep `interval` seconds and records how much later than asked it
  woke (a busy loop serves timers late). `take()` returns the period's p95 and max lag in ms.
- `CpuMeter`: the process's CPU time over the wall time since the last `take()`, in percent
  of one core.

Locust-free: `sleep` and the clocks are passed in (gevent.sleep and time.monotonic in the
swarm), so tests run in simulated time.

    lag = LoopLag(gevent.sleep, time.monotonic)
    gevent.spawn(lag.run)
    ...
    figures = lag.take()   # LagFigures(p95_ms=1.8, max_ms=12.0, samples=10)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

LAG_INTERVAL_S = 0.1
"""How often the lag monitor wakes: ten samples a second, a negligible load."""


@dataclass(frozen=True)
class LagFigures:
    """One period's event-loop lag: p95 and max in ms (NaN without samples) and the count."""

    p95_ms: float
    max_ms: float
    samples: int


def p95(values: list[float]) -> float:
    """The 95th percentile, nearest rank (NaN for no values): the figure a wake-up met 19 in 20."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


class LoopLag:
    """Records how late each wake-up of a sleeping loop came against the wait it asked for."""

    def __init__(self, sleep: Callable[[float], None], clock: Callable[[], float] = time.monotonic,
                 interval: float = LAG_INTERVAL_S) -> None:
        if interval <= 0:
            raise ValueError(f"LoopLag interval {interval!r}: must be above 0 seconds, e.g. 0.1")
        self.sleep = sleep
        self.clock = clock
        self.interval = interval
        self._lags_ms: list[float] = []

    def tick(self) -> float:
        """Sleep once; record and return how late the wake-up came (ms, never below 0)."""
        asked_at = self.clock()
        self.sleep(self.interval)
        late = max(0.0, (self.clock() - asked_at - self.interval) * 1000)
        self._lags_ms.append(late)
        return late

    def run(self, ticks: int | None = None) -> None:
        """Tick forever (the swarm runs it in its own greenlet), or `ticks` times."""
        done = 0
        while ticks is None or done < ticks:
            self.tick()
            done += 1

    def take(self) -> LagFigures:
        """The period's figures since the last take; the next period starts empty."""
        lags, self._lags_ms = self._lags_ms, []
        return LagFigures(p95_ms=p95(lags), max_ms=max(lags, default=math.nan), samples=len(lags))


class CpuMeter:
    """This process's CPU use (user + system, all threads) over the wall time of each period."""

    def __init__(self, cpu_clock: Callable[[], float] = time.process_time,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cpu_clock = cpu_clock
        self.clock = clock
        self._cpu, self._wall = cpu_clock(), clock()

    def take(self) -> float:
        """CPU percent of one core since the last take (or since created); NaN for no wall time."""
        cpu, wall = self.cpu_clock(), self.clock()
        used, elapsed = cpu - self._cpu, wall - self._wall
        self._cpu, self._wall = cpu, wall
        return 100.0 * used / elapsed if elapsed > 0 else math.nan


def host_cpu_percent() -> float:
    """The whole machine's CPU use since the last call, as a percent of all its cores (psutil,
    which Locust depends on): a loopback target shares these cores with the load generator."""
    import psutil

    return float(psutil.cpu_percent(interval=None))


@dataclass(frozen=True)
class ProcessLoad:
    """One process's figures of a period, as sent from a worker to the master."""

    loop_lag_ms: float
    loop_lag_max_ms: float
    cpu_percent: float

    def as_report(self) -> dict[str, float]:
        """As plain data for Locust's report_to_master."""
        return {"loop_lag_ms": self.loop_lag_ms, "loop_lag_max_ms": self.loop_lag_max_ms,
                "cpu_percent": self.cpu_percent}

    @classmethod
    def from_report(cls, data: dict[str, float]) -> "ProcessLoad":
        """A worker's figures as the master receives them (a missing figure is NaN)."""
        return cls(*(float(data.get(k, math.nan)) for k in ("loop_lag_ms", "loop_lag_max_ms", "cpu_percent")))


class SelfMeasure:
    """The lag monitor and the CPU meter of one process, read together once a period."""

    def __init__(self, sleep: Callable[[float], None], clock: Callable[[], float] = time.monotonic,
                 cpu_clock: Callable[[], float] = time.process_time, interval: float = LAG_INTERVAL_S) -> None:
        self.lag = LoopLag(sleep, clock, interval)
        self.cpu = CpuMeter(cpu_clock, clock)

    def run(self) -> None:
        self.lag.run()

    def take(self) -> ProcessLoad:
        lag = self.lag.take()
        return ProcessLoad(loop_lag_ms=lag.p95_ms, loop_lag_max_ms=lag.max_ms, cpu_percent=self.cpu.take())


def combine(loads: list[ProcessLoad]) -> tuple[float, float]:
    """The gauges of several processes' period (master and workers): the worst p95 lag (the
    most saturated process is the one that distorts), and the CPU of the busiest process."""
    lags = [x.loop_lag_ms for x in loads if not math.isnan(x.loop_lag_ms)]
    cpus = [x.cpu_percent for x in loads if not math.isnan(x.cpu_percent)]
    return max(lags, default=math.nan), max(cpus, default=math.nan)
