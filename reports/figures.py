"""The headline figures of one run folder, in plain JSON-ready numbers, from either request form.

    key_figures(load_run("runs/sim"))["fraud_share"]  # 0.0071

Money is integer fen and comes from the requests table (so fraud's share, by persona, and the
total agree on what was counted); times are campaign seconds; rates are shares in 0..1.
"""

from __future__ import annotations

import pandas as pd

from rehearse.observations import Run
from rehearse.observations.schema import UNANSWERED
from rehearse.judging.load import action_p95, counts, load_curve

FRAUD = "fraud_script"


def key_figures(run: Run) -> dict:
    """Requests, error and refusal rates, p95 per action, peaks, money, and event counts of `run`.

    Keys: requests, error_rate (neither ok nor refused, nor cut off by the run's end),
    refused_share, p95_ms {action: ms},
    peak_active_users, peak_active_t, peak_rps, peak_rps_t, paid_fen, fraud_paid_fen,
    fraud_share, bans, failovers, alarms. A figure the run cannot give is None."""
    q = run.requests
    n = counts(run)
    total = int(n.sum())
    paid = int(q["payout_fen"].sum())
    fraud_paid = int(q.loc[q["persona"] == FRAUD, "payout_fen"].sum())
    active, active_t = _peak(run.gauges, "active_users")
    rps, rps_t = _peak(run.gauges, "rps")
    if rps is None:
        rps, rps_t = _peak(load_curve(run), "rps")
    return {
        "requests": total,
        "error_rate": _share(n[~q["ok"] & ~q["refused"] & (q["error"] != UNANSWERED)].sum(), total),
        "refused_share": _share(n[q["refused"]].sum(), total),
        "p95_ms": action_p95(run),
        "peak_active_users": None if active is None else int(active),
        "peak_active_t": active_t,
        "peak_rps": rps,
        "peak_rps_t": rps_t,
        "paid_fen": paid,
        "fraud_paid_fen": fraud_paid,
        "fraud_share": _share(fraud_paid, paid),
        "bans": _events(run, "ban"),
        "failovers": _events(run, "failover"),
        "alarms": _events(run, "alarm"),
    }


def _share(part: float, whole: float) -> float | None:
    return float(part) / float(whole) if whole else None


def _peak(frame: pd.DataFrame, column: str) -> tuple[float | None, float | None]:
    """The highest value of a column and the first t it was reached at, or (None, None)."""
    values = frame[column].astype("float64") if column in frame else pd.Series([], dtype="float64")
    if values.dropna().empty:
        return None, None
    at = values.idxmax()
    return float(values[at]), float(frame.loc[at, "t"])


def _events(run: Run, kind: str) -> int:
    return int((run.events["kind"] == kind).sum())
