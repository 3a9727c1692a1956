"""Campaign time for the backend: seconds since launch (negative in preheat).

The backend runs against a campaign clock rather than the calendar, so it can be started
"as of" launch, mid-preheat or day 5, run faster than real time for a compressed rehearsal,
or be stepped by hand in tests.
"""

from __future__ import annotations

import time
from typing import Callable, Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def set(self, t: float) -> None: ...


class RunningClock:
    """Campaign time that advances with the wall clock, `speed` campaign seconds per second."""

    def __init__(self, start_t: float = 0.0, speed: float = 1.0,
                 ticker: Callable[[], float] = time.monotonic) -> None:
        self._ticker = ticker
        self._speed = speed
        self._origin_t = start_t
        self._origin_tick = ticker()

    def now(self) -> float:
        return self._origin_t + (self._ticker() - self._origin_tick) * self._speed

    def set(self, t: float) -> None:
        self._origin_t = t
        self._origin_tick = self._ticker()


class ManualClock:
    """Campaign time that moves only when told to (tests, drills)."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    def set(self, t: float) -> None:
        self.t = t

    def advance(self, seconds: float) -> None:
        self.t += seconds
