"""The classic launch defects the reference backend can plant, one switch each."""

from __future__ import annotations

from rehearse.scenarios.errors import UsageError

FAULTS: dict[str, str] = {
    "overspend": "budget check and debit are not atomic: concurrent payouts overdraw a pool",
    "double-pay": "the once-per-user check is read before and written after the payment "
    "call: concurrent requests for the same envelope are each paid",
    "no-failover": "a reported ban is logged but the domain keeps being issued and no backup "
    "joins the pool",
    "no-antifraud": "payout signatures, virtual-number segments, the blacklist and rate limits "
    "are not enforced",
    "slow-open": "opening an envelope waits about 200 ms on a 4-slot resource, so opens queue "
    "under load",
    "preheat-leak": "participation is accepted before launch",
}


def check_faults(names: list[str] | tuple[str, ...]) -> frozenset[str]:
    """The set of fault names, or a UsageError naming the unknown one and the known ones."""
    for name in names:
        if name not in FAULTS:
            raise UsageError(f"--fault {name}: no such fault; choose from {', '.join(FAULTS)}")
    return frozenset(names)
