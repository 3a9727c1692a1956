"""Campaign time: seconds since launch (negative in the preheat), running `speed` times as
fast as the wall clock, and settable by operations (`POST /ops/clock`)."""

from __future__ import annotations

import time
from typing import Callable


class CampaignClock:
    """`now()` is campaign seconds; `set(t, speed)` moves it. The ticker is injectable for tests."""

    def __init__(self, t: float = 0.0, speed: float = 1.0,
                 ticker: Callable[[], float] = time.monotonic) -> None:
        self._ticker = ticker
        self.speed = speed
        self._origin_t = t
        self._origin_tick = ticker()

    def now(self) -> float:
        return self._origin_t + (self._ticker() - self._origin_tick) * self.speed

    def set(self, t: float, speed: float | None = None) -> None:
        """From now on campaign time runs from t (at `speed`, or the current speed)."""
        self._origin_t = t
        self._origin_tick = self._ticker()
        if speed is not None:
            self.speed = speed
