"""The budget over the whole campaign: payouts in time order against the pools, the fund-loss
monitor, and an operator who confirms a pause after a delay. Two SimPy processes.

Each bucket: while paused, every payout is refused (delayed); at the warning level only
`throttle_pass_share` of them pass; a pool pays while it has money and refuses after. The
monitor reads the same figure as the reference backend (paid against plan, see
rehearse.scenarios.fund_loss) at the end of every bucket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import simpy

from rehearse.scenarios.fund_loss import STOP, WARNING
from rehearse.scenarios import Scenario

if TYPE_CHECKING:
    from rehearse.simulator.incidents import LateTopup

PAID, THROTTLED, PAUSED, EXHAUSTED = 0, 1, 2, 3


@dataclass
class Ledger:
    """The outcome of every payout row, and the budget per bucket."""

    result: np.ndarray  # int8 per payout row: PAID, THROTTLED, PAUSED or EXHAUSTED
    paid: np.ndarray  # fen paid per bucket
    fraud_paid: np.ndarray  # fen paid to fraud scripts per bucket
    left: np.ndarray  # fen left in all pools at the end of each bucket
    level: np.ndarray  # alarm level at the end of each bucket
    events: list[tuple[float, str, str]] = field(default_factory=list)


def run_ledger(scenario: Scenario, bucket_s: float, buckets: int, t: np.ndarray, pool: np.ndarray,
               amount: np.ndarray, fraud: np.ndarray, rng: np.random.Generator,
               late_topups: Sequence[LateTopup] = ()) -> Ledger:
    """Settle payout rows (sorted by t) bucket by bucket; returns what happened to each.
    `late_topups` (a drill's) cut a pool at their time and top it up `delay` after it runs out."""
    budget = scenario.budget
    rule = budget.fund_loss
    pools = scenario.pool_budgets()
    names = list(pools)
    left = np.array(list(pools.values()), dtype=np.int64)
    monitor = scenario.fund_loss_plan()
    bucket_of = np.minimum((t // bucket_s).astype(np.int64), buckets - 1)
    edges = np.searchsorted(bucket_of, np.arange(buckets + 1))
    ledger = Ledger(result=np.full(len(t), PAID, dtype=np.int8), paid=np.zeros(buckets, dtype=np.int64),
                    fraud_paid=np.zeros(buckets, dtype=np.int64), left=np.zeros(buckets, dtype=np.int64),
                    level=np.zeros(buckets, dtype=np.int8))
    env = simpy.Environment()
    state: dict[str, Any] = {"paused": False, "level": 0, "paid": 0, "ack_paid": 0, "ack_plan": 0.0,
                             "exhausted": set(), "ran_out": {}}
    confirm = env.event()

    def operator():
        nonlocal confirm
        while True:
            yield confirm
            yield env.timeout(rule.confirm_delay)
            state.update(paused=False, level=0, ack_paid=state["paid"], ack_plan=monitor.plan_fen(env.now))
            ledger.events.append((env.now, "resume", "payouts resumed after the operator confirmed"))
            confirm = env.event()

    def minutes():
        for b in range(buckets):
            rows = slice(edges[b], edges[b + 1])
            result = ledger.result[rows]
            if state["paused"]:
                result[:] = PAUSED
            else:
                if state["level"] == WARNING:
                    result[rng.random(len(result)) >= rule.throttle_pass_share] = THROTTLED
                _settle(result, pool[rows], amount[rows], left, state, ledger, env.now, names)
            paid_now = np.where(result == PAID, amount[rows], 0)
            ledger.paid[b] = paid_now.sum()
            ledger.fraud_paid[b] = paid_now[fraud[rows]].sum()
            state["paid"] += int(ledger.paid[b])
            ledger.left[b] = left.sum()
            reading = (None if monitor is None  # a campaign without a fund-loss alarm
                       else monitor.read(env.now + bucket_s, state["paid"], state["ack_paid"], state["ack_plan"]))
            if reading is not None and reading.level > state["level"] and not state["paused"]:
                detail = f"fund-loss ratio {reading.ratio:.2f}"
                ledger.events.append((env.now + bucket_s, "alarm", detail))
                if reading.level == WARNING:
                    ledger.events.append((env.now + bucket_s, "throttle", detail))
                else:
                    ledger.events.append((env.now + bucket_s, "pause", detail))
                    state["paused"] = True
                    confirm.succeed()
                state["level"] = reading.level
            ledger.level[b] = STOP if state["paused"] else state["level"]
            yield env.timeout(bucket_s)

    def top_up(pool: str, amount_fen: int) -> None:
        p = names.index(pool)
        left[p] += amount_fen
        state["exhausted"].discard(p)
        ledger.events.append((env.now, "topup", f"{pool} +{amount_fen} fen"))

    def topups():
        for topup in sorted(budget.topups, key=lambda u: u.at):
            yield env.timeout(max(0.0, topup.at - env.now))
            top_up(topup.pool, topup.amount_fen)

    def late(topup: LateTopup):
        p = names.index(topup.pool)
        yield env.timeout(max(0.0, topup.t - env.now))
        left[p] = min(left[p], topup.left_fen)
        state["exhausted"].discard(p)
        ran_out = state["ran_out"][p] = env.event()
        yield ran_out
        if topup.delay is None:
            return
        yield env.timeout(topup.delay)
        top_up(topup.pool, topup.amount_fen)

    env.process(operator())
    env.process(topups())
    for topup in late_topups:
        env.process(late(topup))
    env.process(minutes())
    env.run(until=buckets * bucket_s)
    return ledger


def _settle(result: np.ndarray, pool: np.ndarray, amount: np.ndarray, left: np.ndarray,
            state: dict, ledger: Ledger, now: float, names: list[str]) -> None:
    """Pay the rows still PAID pool by pool, in order, while each pool has the money."""
    for p in np.unique(pool[result == PAID]):
        mine = np.flatnonzero((pool == p) & (result == PAID))
        spend = np.cumsum(amount[mine])
        fits = spend <= left[p]
        result[mine[~fits]] = EXHAUSTED
        left[p] -= int(spend[fits][-1]) if fits.any() else 0
        if not fits.all() and p not in state["exhausted"]:
            state["exhausted"].add(p)
            ledger.events.append((now, "budget_exhausted", f"{names[p]} pool is empty"))
            waiting = state["ran_out"].pop(p, None)
            if waiting is not None:
                waiting.succeed()
