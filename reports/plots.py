"""The capacity report's plots of one run, each a PNG (bytes), or None when the run lacks the data.

Figures are built with `matplotlib.figure.Figure` and rendered by the Agg canvas directly, so no
backend is chosen and no pyplot state is left behind. Time runs in hours since launch.
"""

from __future__ import annotations

import io
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from rehearse.observations import Run
from rehearse.reports.figures import FRAUD
from rehearse.judging.load import load_curve
from rehearse.judging.steps import Step

SIZE = (7.0, 3.0)  # inches
DPI = 100
HOUR = 3600.0
BUDGET_MARKS = {"alarm": "tab:red", "throttle": "tab:orange", "pause": "black",
                "resume": "tab:green", "topup": "tab:blue", "budget_exhausted": "tab:purple"}
POOL_MARKS = {"ban": "tab:red", "failover": "tab:green", "pool_exhausted": "black"}


def activity(run: Run) -> bytes | None:
    """Active users and arrivals per sample over campaign time (gauges)."""
    g = run.gauges
    if not (_has(g, "active_users") or _has(g, "arrivals")):
        return None
    fig, ax = _figure("Active users and arrivals")
    hours = g["t"] / HOUR
    if _has(g, "active_users"):
        ax.plot(hours, _num(g, "active_users"), color="tab:blue", label="active users")
    if _has(g, "arrivals"):
        ax.plot(hours, _num(g, "arrivals"), color="tab:orange", lw=0.8, label="arrivals per sample")
    ax.set_xlabel("hours since launch")
    return _png(fig)


def latency_vs_load(run: Run) -> bytes | None:
    """Per bucket, the slowest action's p50, p95 and p99 latency against requests per second."""
    curve = load_curve(run).dropna(subset=["p95"])
    if curve.empty:
        return None
    fig, ax = _figure("Latency against load (slowest action per bucket)")
    # p99 first and largest: in a roll-up p95 and p99 may coincide, and p95 must stay visible
    series = (("p99", "tab:red", 16), ("p95", "tab:orange", 7), ("p50", "tab:green", 3))
    for name, colour, size in series:
        ax.scatter(curve["rps"], curve[name], s=size, color=colour, label=name)
    ax.set_xlabel("requests per second")
    ax.set_ylabel("ms")
    return _png(fig)


def budget_burn(run: Run) -> bytes | None:
    """Budget left (yuan) over time, with alarms, throttles, pauses and top-ups marked."""
    g = run.gauges
    if not _has(g, "budget_left_fen"):
        return None
    fig, ax = _figure("Budget burn-down")
    ax.plot(g["t"] / HOUR, _num(g, "budget_left_fen") / 100, color="tab:blue", label="budget left")
    _mark(ax, run.events, BUDGET_MARKS)
    ax.set_xlabel("hours since launch")
    ax.set_ylabel("yuan")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    return _png(fig)


def link_pool(run: Run) -> bytes | None:
    """Healthy and banned campaign domains over time, with bans and failovers marked."""
    g = run.gauges
    if not (_has(g, "healthy_domains") or _has(g, "banned_domains")):
        return None
    fig, ax = _figure("Link pool")
    hours = g["t"] / HOUR
    for column, colour in (("healthy_domains", "tab:green"), ("banned_domains", "tab:red")):
        if _has(g, column):
            label = column.replace("_", " ")
            ax.step(hours, _num(g, column), where="post", color=colour, label=label)
    _mark(ax, run.events, POOL_MARKS)
    ax.set_xlabel("hours since launch")
    ax.set_ylabel("domains")
    return _png(fig)


def payouts(run: Run) -> bytes | None:
    """Cumulative payouts (yuan) to legitimate users and to fraud scripts over time (requests)."""
    q = run.requests
    paying = q[q["payout_fen"] > 0]
    if paying.empty:
        return None
    fig, ax = _figure("Payouts: legitimate against fraud")
    fraud = (paying["persona"] == FRAUD).to_numpy()
    amount = paying["payout_fen"].to_numpy(dtype="float64") / 100
    hours = paying["t"].to_numpy() / HOUR
    ax.plot(hours, np.cumsum(np.where(fraud, 0.0, amount)), color="tab:blue", label="legitimate")
    ax.plot(hours, np.cumsum(np.where(fraud, amount, 0.0)), color="tab:red", label="fraud")
    ax.set_xlabel("hours since launch")
    ax.set_ylabel("yuan paid")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    return _png(fig)


FUNNEL = (("arrived", ("open_page", "visit_link")), ("logged in", ("login",)),
          ("did a task", ("complete_task",)), ("opened an envelope", ("open_envelope",)),
          ("grand draw", ("grand_draw",)))
OPTIONAL_STEPS = ("did a task", "grand draw")
"""Steps a campaign may leave out (no tasks, no grand round): shown when the run asked for them."""


def funnel_counts(run: Run) -> tuple[list[str], list[str], np.ndarray] | None:
    """(channels, steps, participants reaching each step per channel): fraud scripts left out
    (they skip the page), an optional step the run never asked for left out (a campaign without
    a grand round has no grand draw; a core step nobody reached shows 0); None for a run without
    one row per action and channels."""
    q = run.requests
    if run.rolled_up or q.empty or (q["channel"] == "").all():
        return None
    done = q[q["ok"] & (q["persona"] != FRAUD)]
    steps = [(step, actions) for step, actions in FUNNEL
             if step not in OPTIONAL_STEPS or q["action"].isin(actions).any()]
    channels = sorted(c for c in q["channel"].unique() if c)
    counts = np.array([[done[(done["channel"] == channel) & done["action"].isin(actions)]["user_id"].nunique()
                        for _, actions in steps] for channel in channels], dtype=float)
    return channels, [step for step, _ in steps], counts


def funnel(run: Run) -> bytes | None:
    """People reaching each step of the core path, per channel (see funnel_counts)."""
    found = funnel_counts(run)
    if found is None or not found[2].any():
        return None
    channels, steps, counts = found
    fig, ax = _figure("Funnel per channel (participants reaching each step)")
    width = 0.8 / len(steps)
    for k, step in enumerate(steps):
        ax.bar(np.arange(len(channels)) + k * width, counts[:, k], width, label=step)
    ax.set_xticks(np.arange(len(channels)) + 0.4 - width / 2, channels, fontsize=7, rotation=15)
    ax.set_ylabel("participants")
    return _png(fig)


def steps_plot(steps: Sequence[Step]) -> bytes | None:
    """A step load: the worst p95 and the requests/s at each step's participants, each step
    marked held, broke or limited by the load generator."""
    if not steps:
        return None
    fig, ax = _figure("The peak at real concurrency: latency and throughput per step")
    x = [s.target for s in steps]
    worst = [max(s.p95_ms.values(), default=np.nan) for s in steps]
    ax.plot(x, worst, color="tab:orange", label="worst p95 (ms)")
    for status, colour in (("held", "tab:green"), ("broke", "tab:red"), ("limited", "tab:gray")):
        mine = [i for i, s in enumerate(steps) if s.status == status]
        if mine:
            ax.scatter([x[i] for i in mine], [worst[i] for i in mine], s=40, color=colour, label=status, zorder=3)
    ax.set_xlabel("participants playing")
    ax.set_ylabel("ms")
    right = ax.twinx()
    right.plot(x, [s.rps for s in steps], color="tab:blue", linestyle="--", label="requests/s")
    right.set_ylabel("requests per second")
    return _png(fig)


PLOTS: dict[str, Callable[[Run], bytes | None]] = {
    "Arrivals and active users": activity,
    "Latency against load": latency_vs_load,
    "Budget burn-down": budget_burn,
    "Link pool": link_pool,
    "Payouts": payouts,
    "Funnel per channel": funnel,
}


def all_plots(run: Run) -> dict[str, bytes | None]:
    """Every plot of `run` by title, None where the run lacks the data."""
    return {title: plot(run) for title, plot in PLOTS.items()}


def _figure(title: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    return fig, ax


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes, its legend outside the plot so no data hides behind it."""
    fig.legend(loc="outside right upper", fontsize="small")
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer, metadata={"Software": None})  # no URL in the file
    return buffer.getvalue()


def _has(frame: pd.DataFrame, column: str) -> bool:
    return column in frame and frame[column].notna().any()


def _num(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(dtype="float64", na_value=np.nan)


def _mark(ax: Axes, events: pd.DataFrame, colours: dict[str, str]) -> None:
    """A dashed vertical line at each event of the given kinds, one legend entry per kind."""
    for kind, colour in colours.items():
        for i, t in enumerate(events.loc[events["kind"] == kind, "t"]):
            ax.axvline(t / HOUR, color=colour, ls="--", lw=0.8, label=kind if i == 0 else None)
