"""What a run did, in a few tables: per persona, per action, and the headline figures."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from observations import Run


@dataclass(frozen=True)
class Summary:
    personas: pd.DataFrame  # persona -> participants, requests, ok, refused, broken, paid_fen
    actions: pd.DataFrame  # action -> requests, refused, broken, p50_ms, p95_ms
    paid_fen: int
    fraud_paid_fen: int
    invitees: int
    bans: int
    lost_visits: int

    @property
    def fraud_share(self) -> float:
        return self.fraud_paid_fen / self.paid_fen if self.paid_fen else 0.0


def summarise(run: Run) -> Summary:
    """The headline figures of a run folder with one row per action."""
    q = run.requests
    broken = ~q["ok"] & ~q["refused"]
    q = q.assign(broken=broken)
    personas = q.groupby("persona").agg(
        participants=("user_id", "nunique"), requests=("action", "size"), ok=("ok", "sum"),
        refused=("refused", "sum"), broken=("broken", "sum"), paid_fen=("payout_fen", "sum"))
    actions = q.groupby("action").agg(
        requests=("action", "size"), refused=("refused", "sum"), broken=("broken", "sum"),
        p50_ms=("latency_ms", lambda s: s.quantile(0.5)), p95_ms=("latency_ms", lambda s: s.quantile(0.95)))
    events = run.events
    paid = int(q["payout_fen"].sum())
    fraud = int(q.loc[q["persona"] == "fraud_script", "payout_fen"].sum())
    return Summary(personas=personas, actions=actions, paid_fen=paid, fraud_paid_fen=fraud,
                   invitees=int(q.loc[q["persona"] == "invitee", "user_id"].nunique()),
                   bans=int((events["kind"] == "ban").sum()),
                   lost_visits=int((q["error"] == "link_banned").sum()))
