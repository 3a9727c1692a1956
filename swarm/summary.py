"""What a run did, in a few tables: per persona, per action, and the headline figures."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rehearse.observations import Run
from rehearse.reports.figures import key_figures


@dataclass(frozen=True)
class Summary:
    personas: pd.DataFrame  # persona -> participants, requests, ok, refused, broken, paid_fen
    actions: pd.DataFrame  # action -> requests, refused, broken, p50_ms, p95_ms
    figures: dict  # the report's key figures (reports.figures.key_figures)
    invitees: int
    lost_visits: int

    @property
    def paid_fen(self) -> int:
        return self.figures["paid_fen"]

    @property
    def fraud_share(self) -> float:
        return self.figures["fraud_share"] or 0.0

    @property
    def bans(self) -> int:
        return self.figures["bans"]


def summarise(run: Run) -> Summary:
    """Per persona and per action, from a run folder with one row per action; the headline
    figures are the report's own (reports.figures.key_figures)."""
    q = run.requests.assign(broken=~run.requests["ok"] & ~run.requests["refused"])
    personas = q.groupby("persona").agg(
        participants=("user_id", "nunique"), requests=("action", "size"), ok=("ok", "sum"),
        refused=("refused", "sum"), broken=("broken", "sum"), paid_fen=("payout_fen", "sum"))
    actions = q.groupby("action").agg(
        requests=("action", "size"), refused=("refused", "sum"), broken=("broken", "sum"),
        p50_ms=("latency_ms", lambda s: s.quantile(0.5)), p95_ms=("latency_ms", lambda s: s.quantile(0.95)))
    return Summary(personas=personas, actions=actions, figures=key_figures(run),
                   invitees=int(q.loc[q["persona"] == "invitee", "user_id"].nunique()),
                   lost_visits=int((q["error"] == "link_banned").sum()))
