"""Token buckets, one per key (an account, a client address), on the campaign clock so a
sped-up rehearsal is limited like the real campaign."""

from __future__ import annotations

from typing import Callable


class TokenBuckets:
    """`per_second` requests per key on average, in bursts of up to `burst`."""

    def __init__(self, per_second: float, burst: int, ticker: Callable[[], float],
                 max_keys: int = 200_000) -> None:
        self.per_second = per_second
        self.burst = float(burst)
        self._ticker = ticker
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last tick)

    def allow(self, key: str) -> bool:
        """Take one token for key; False when its bucket is empty."""
        now = self._ticker()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.per_second)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            self._buckets.clear()  # bounded memory: a full table starts afresh
        self._buckets[key] = (tokens - 1.0, now)
        return True
