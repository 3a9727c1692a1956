"""The money: one pool per sponsor (and one for invite rewards), and the payout path.

A payout claims the prize for the person, debits the pool, then calls the payment provider.
Healthy, the claim and the debit happen before the call and under the pool's lock (no await
between the check and the write), so a prize is paid once and a pool never goes below zero.
Two faults move a step after the call, the way launch defects do:

- `nonatomic-debit`: the pool is checked before and debited after the call;
- `retry-paid-twice` and `replay-pays-again`: "already paid?" is checked before and written
  after the call (they differ in the idempotency layer in front: see app.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from examples.lucky_bag.codes import Code, Refusal


@dataclass
class Pool:
    name: str
    budget_fen: int
    paid_fen: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def left_fen(self) -> int:
        return self.budget_fen - self.paid_fen


@dataclass(frozen=True)
class Payout:
    order_no: str
    amount_fen: int


class Wallet:
    def __init__(self, budgets_fen: dict[str, int], faults: frozenset[str] = frozenset(),
                 payment_latency_s: float = 0.005) -> None:
        self.pools = {name: Pool(name, fen) for name, fen in budgets_fen.items()}
        self.faults = faults
        self.payment_latency_s = payment_latency_s
        self.claims: set[tuple[int, str]] = set()  # (uid, prize) paid or being paid
        self.times_paid: Counter[tuple[int, str]] = Counter()
        self._orders = 0

    async def pay(self, uid: int, prize: str, pool_name: str, draw: Callable[[], int]) -> Payout:
        """Pay `uid` the prize `prize` (e.g. "bag:jinniu") from the pool, amount from draw().
        Refusal ALREADY_CLAIMED or POOL_EMPTY when the rules say no."""
        pool = self.pools[pool_name]
        claim_late = bool({"retry-paid-twice", "replay-pays-again"} & self.faults)
        debit_late = "nonatomic-debit" in self.faults
        key = (uid, prize)
        async with pool.lock:  # nothing awaited inside: check and write are one step
            if key in self.claims:
                raise Refusal(Code.ALREADY_CLAIMED, "you have already opened this bag")
            amount = draw()
            if pool.left_fen < amount:
                raise Refusal(Code.POOL_EMPTY, f"the {pool_name} budget has run out; "
                              "your bag is delayed until it is topped up")
            if not claim_late:
                self.claims.add(key)
            if not debit_late:
                pool.paid_fen += amount
        await self._transfer()
        if debit_late:
            pool.paid_fen += amount
        if claim_late:
            self.claims.add(key)
        self.times_paid[key] += 1
        self._orders += 1
        return Payout(f"LB{self._orders:010d}", amount)

    async def _transfer(self) -> None:
        """The call to the payment provider (simulated latency)."""
        await asyncio.sleep(self.payment_latency_s)

    def limit(self, pool_name: str, left_fen: int) -> int:
        """Cut a pool so that at most `left_fen` is left (its budget shrinks); the money left.
        KeyError for an unknown pool."""
        pool = self.pools[pool_name]
        pool.budget_fen -= max(0, pool.left_fen - left_fen)
        return pool.left_fen

    def books(self) -> dict:
        """What was budgeted, paid and left, per pool and in all (fen), and prizes paid twice."""
        pools = {p.name: {"budget_fen": p.budget_fen, "paid_fen": p.paid_fen, "left_fen": p.left_fen}
                 for p in self.pools.values()}
        total = {k: sum(p[k] for p in pools.values()) for k in ("budget_fen", "paid_fen", "left_fen")}
        return {"budget": total, "pools": pools, "payouts": sum(self.times_paid.values()),
                "dup_paid": sum(1 for n in self.times_paid.values() if n > 1)}
