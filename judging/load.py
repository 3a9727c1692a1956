"""Load and latency from either form of requests: one row per action, or rolled up per bucket.

A rolled-up row stands for `count` requests and carries their percentiles, which cannot be merged
exactly; wherever rows are combined here, a percentile is the highest of the rows' percentiles.
That is an upper bound: if no row has more than 5 % of its requests above its p95, the rows
together have no more than 5 % above the highest p95.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rehearse.observations import Run

PERCENTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
RAW_BUCKET_S = 60.0  # campaign seconds per bucket of a one-row-per-action run (at least)


def counts(run: Run) -> pd.Series:
    """How many requests each row of `run.requests` stands for (1 each in raw form)."""
    if run.rolled_up:
        return run.requests["count"].astype("int64")
    return pd.Series(1, index=run.requests.index, dtype="int64")


def bucket_seconds(run: Run) -> float:
    """The width of a load bucket in campaign seconds: the roll-up's own, or one that spans at
    least a wall-clock second of a time-compressed live run."""
    if run.rolled_up:
        declared = run.info.extra.get("bucket_s")
        if isinstance(declared, (int, float)) and declared > 0:
            return float(declared)
        steps = np.diff(np.unique(run.requests["t"].to_numpy()))
        return float(steps.min()) if len(steps) else RAW_BUCKET_S
    return max(RAW_BUCKET_S, float(run.info.compress))


def action_p95(run: Run) -> dict[str, float]:
    """p95 latency (ms) per action over the run: the exact quantile of raw rows, or for a roll-up
    the highest bucket p95 (an upper bound, see the module docstring)."""
    q = run.requests
    if q.empty:
        return {}
    if run.rolled_up:
        per_action = q[q["count"] > 0].groupby("action")["latency_p95"].max()
    else:
        per_action = q.groupby("action")["latency_ms"].quantile(0.95)
    return {str(a): float(v) for a, v in per_action.items() if pd.notna(v)}


def load_curve(run: Run) -> pd.DataFrame:
    """Per bucket: t (start, campaign s), rps (requests per second of the backend's clock, i.e.
    campaign rate times the run's time compression) and the slowest action's p50, p95, p99 (ms)."""
    columns = ["t", "rps", *PERCENTILES]
    q = run.requests
    if q.empty:
        return pd.DataFrame({c: pd.Series([], dtype="float64") for c in columns})
    width = bucket_seconds(run)
    start = np.floor(q["t"].to_numpy() / width) * width
    if run.rolled_up:
        rows = q.assign(bucket=start)
        rows = rows[rows["count"] > 0]
        latency = rows.groupby("bucket")[[f"latency_{p}" for p in PERCENTILES]].max()
        latency.columns = list(PERCENTILES)
        n = rows.groupby("bucket")["count"].sum()
    else:
        rows = q.assign(bucket=start)
        per_action = rows.groupby(["bucket", "action"])["latency_ms"]
        latency = pd.DataFrame({p: per_action.quantile(f).groupby(level="bucket").max()
                                for p, f in PERCENTILES.items()})
        n = rows.groupby("bucket").size()
    curve = latency.assign(rps=n * float(run.info.compress) / width).reset_index(names="t")
    return curve.loc[:, columns].astype("float64")
