"""Launch defects this backend can plant (`--fault NAME`, repeatable), one switch each."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "nonatomic-debit": "the pool check and the debit straddle the payment call: concurrent "
    "payouts take a pool below zero",
    "slow-failover": "a reported ban is acted on 30 campaign minutes late: the banned domain "
    "keeps being issued (the scenario promises 5 minutes)",
    "leaky-segments": "the virtual-number filter knows only the older segments (162, 165, 167): "
    "170 and 171 numbers get in",
    "retry-paid-twice": "the Idempotency-Key is ignored and 'already paid?' is written after the "
    "payment call: a retried or raced payout pays again",
    "replay-pays-again": "a repeated Idempotency-Key is paid again ('already paid?' written after the "
    "payment call), and its answer marked Idempotent-Replayed: true as if it repeated the first",
}

SLOW_FAILOVER_S = 1800.0
"""How long, in campaign seconds, slow-failover keeps issuing a banned domain."""
LEAKY_SEGMENTS_KNOWN = ("162", "165", "167")
"""The only segments the leaky filter checks."""


class FaultError(ValueError):
    """An unknown fault name."""


def check_faults(names: list[str] | tuple[str, ...]) -> frozenset[str]:
    """The set of fault names, or FaultError naming the unknown one and the known ones."""
    for name in names:
        if name not in FAULTS:
            raise FaultError(f"--fault {name}: no such fault; choose from {', '.join(FAULTS)}")
    return frozenset(names)
