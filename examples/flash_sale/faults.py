"""Launch defects this backend can plant (`--fault NAME`, repeatable), one switch each."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "oversell": "the stock is read, the payment held 200 ms, then a unit taken in a separate step with "
    "no 'stock > 0' guard: simultaneous orders near the end of the stock sell past zero",
    "double-order": "'already ordered?' is read before a 200 ms risk check and the orders table has no "
    "unique key per customer: simultaneous orders of one customer are each placed",
    "drifting-counter": "the status counters (stock left, units sold) are read after the order's "
    "transaction and written back 30 ms later: simultaneous orders lose updates, and the books drift "
    "from the orders table",
    "pool-exhausted": "a pool of one database connection and no waiting for it (an order holds it for its "
    "20 ms payment confirmation): under load requests fail with 503 'no database connection'",
}

RACE_WINDOW_S = 0.2
"""How long oversell and double-order hold between their check and their write."""
COUNTER_LAG_S = 0.03
"""How long drifting-counter holds between reading the status counters and writing them back."""
EXHAUSTED_POOL_SIZE = 1
"""The connections pool-exhausted has (and it does not wait for one)."""


class FaultError(ValueError):
    """An unknown fault name."""


def check_faults(names: list[str] | tuple[str, ...]) -> frozenset[str]:
    """The set of fault names, or FaultError naming the unknown one and the known ones."""
    for name in names:
        if name not in FAULTS:
            raise FaultError(f"--fault {name}: no such fault; choose from {', '.join(FAULTS)}")
    return frozenset(names)
