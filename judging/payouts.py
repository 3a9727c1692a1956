"""What a run paid, as the harness saw it: every payout request and the payments (replays that
stand for one included), the target's own books as read, and the money a pool held over time
(its budget, the harness's cuts and the top-ups seen, less what was paid). The payout gate
(judging/payout_gate.py) and the drills judge from these.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pandas as pd

from rehearse.observations import Run
from rehearse.personas.steps import REPLAYED, paying_replays, replayed_fen
from rehearse.judging.load import counts
from rehearse.scenarios.rules import PAYOUT_ACTIONS

TOPUP = re.compile(r"^(?P<pool>\S+) \+(?P<fen>\d+) fen$")


@dataclass(frozen=True)
class Books:
    """The target's ledger as the run read it: at the start and at the end (None if not read)."""

    start: dict | None
    end: dict | None

    @classmethod
    def of(cls, run: Run) -> "Books":
        def last(kind: str) -> dict | None:
            rows = run.events[run.events["kind"] == kind]
            for detail in reversed(rows["detail"].tolist()):
                try:
                    value = json.loads(detail)
                except ValueError:
                    continue
                if isinstance(value, dict):
                    return value
            return None
        return cls(start=last("ledger_start"), end=last("ledger"))

    def pools(self, which: str) -> dict[str, dict]:
        ledger = getattr(self, which) or {}
        pools = ledger.get("pools")
        return {str(k): v for k, v in pools.items() if isinstance(v, dict)} if isinstance(pools, dict) else {}


@dataclass(frozen=True)
class Payouts:
    """The run's payout requests: asked (every payout request) and paid (an amount received, and
    the replays that stand for a payment, with the amount they carried)."""

    asked: pd.DataFrame
    paid: pd.DataFrame
    weights: pd.Series  # requests per row of `asked` (roll-ups stand for many)

    @classmethod
    def of(cls, run: Run) -> "Payouts":
        q = run.requests
        asked = q[q["action"].isin(PAYOUT_ACTIONS)]
        paid = asked[asked["payout_fen"] > 0]
        if not run.rolled_up:  # (a roll-up keeps no participants, and no engine that rolls up replays)
            replays = asked[asked["ok"] & (asked["payout_fen"] == 0) & asked["error"].str.startswith(REPLAYED)]
            if len(replays):
                paid = pd.concat([paid, _paying_replay_rows(paid, replays)]).sort_index()
        return cls(asked=asked, paid=paid, weights=counts(run).loc[asked.index])

    def why_nothing(self) -> str | None:
        """Why there is nothing to judge payouts on, or None if something was paid."""
        if not len(self.asked):
            return "no payout was asked for in this run"
        done = self.asked[self.asked["ok"]]
        if not len(done):
            return f"none of {int(self.weights.sum()):,} payout requests was paid (all refused or failed)"
        if not len(self.paid):
            return (f"{int(self.weights[done.index].sum()):,} payouts were answered as done but none carried an "
                    "amount: map each payout action's payout_field (or payout_fixed_fen) in the target contract")
        return None


def _paying_replay_rows(paid: pd.DataFrame, replays: pd.DataFrame) -> pd.DataFrame:
    """The replay rows that stand for a payment (personas.steps.paying_replays), with the amount
    they carried: the target's replay marker is held to what the same participant was seen paid
    for the same prize (whatever its idempotency key: the step, or the participant and prize)."""
    seen = paid.groupby(["user_id", "prize"])["payout_fen"].agg(list).to_dict()
    keep: list = []
    amounts: list[int] = []
    for who, rows in replays.groupby(["user_id", "prize"]):
        fen = [replayed_fen(e) for e in rows["error"]]
        counted = paying_replays(seen.get(who, []), fen)
        for index, amount in zip(rows.index, fen):
            if amount in counted:
                counted.remove(amount)
                keep.append(index)
                amounts.append(amount)
    return replays.loc[keep].assign(payout_fen=pd.Series(amounts, index=keep, dtype="int64"))


def topups_seen(run: Run) -> list[tuple[float, str, int]]:
    """(t, pool, fen): the top-ups the run saw made (`topup` events: the harness's operator, or
    the simulator's scheduled ones); a top-up the scenario plans but nobody made adds nothing."""
    return [(float(r.t), m["pool"], int(m["fen"])) for r in run.events[run.events["kind"] == "topup"].itertuples()
            if (m := TOPUP.match(str(r.detail)))]


def pool_caps(run: Run) -> list[tuple[float, str, int]]:
    """(t, pool, fen left): pools the harness cut small (a drill's or a rehearsal's race); t is
    when the cut was confirmed, and a row's t is when its request was sent, so a payout sent
    before the cut counts before it."""
    caps = []
    for r in run.events[run.events["kind"] == "pool_cap"].itertuples():
        try:
            value = json.loads(r.detail)
            caps.append((float(r.t), str(value["pool"]), int(value["left_fen"])))
        except (ValueError, KeyError, TypeError, OverflowError):
            continue
    return caps


def money_timeline(pool: str, topups: list[tuple[float, str, int]], caps: list[tuple[float, str, int]],
                    paid: pd.DataFrame) -> list[tuple[float, int, str, int]]:
    """One pool's money changes, (t, order, what, fen), in the order the reckoning applies them: at
    one moment a cap (money left set to fen), then top-ups (added), then payouts sent then (taken)."""
    mine = paid[paid["prize"] == pool]
    return sorted([(t, 0, "cap", fen) for t, name, fen in caps if name == pool]
                  + [(t, 1, "topup", fen) for t, name, fen in topups if name == pool]
                  + [(float(t), 2, "paid", int(fen)) for t, fen in zip(mine["t"], mine["payout_fen"])])


def money_left(pool: str, times: list[float], budget: int, topups: list[tuple[float, str, int]],
               caps: list[tuple[float, str, int]], paid: pd.DataFrame) -> list[int]:
    """What the harness's own reckoning says `pool` held at each of `times` (ascending), in one
    walk of the timeline `_overdraws` walks: its budget, or the money left at its latest cap, plus
    the top-ups seen since, less what it saw paid from it since (rows sent before that time)."""
    timeline = money_timeline(pool, topups, caps, paid)
    held, i, found = budget, 0, []
    for t in times:
        while i < len(timeline) and (timeline[i][0] < t or (timeline[i][0] == t and timeline[i][2] != "paid")):
            _, _, what, fen = timeline[i]
            held = fen if what == "cap" else held + fen if what == "topup" else held - fen
            i += 1
        found.append(held)
    return found
