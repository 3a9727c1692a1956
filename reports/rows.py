"""Report content as rows of text, shared by the HTML and Markdown renderers (they only mark up)."""

from __future__ import annotations

from typing import Callable

from rehearse.reports.compare import Delta
from rehearse.judging.verdicts import Verdict

HOUR = 3600.0
EVIDENCE_LINES = 3


def number(value: float | int | None) -> str:
    """A figure for reading: 4 significant digits below 1000, whole with separators above, '-'
    for none."""
    if value is None:
        return "-"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"


def _yuan(value: int | None) -> str:
    return "-" if value is None else f"{value / 100:,.2f}"


def when(t: float | None) -> str:
    """A campaign time in the unit that reads best: '45.0 s', '12.5 min', '26.25 h'."""
    if t is None:
        return "-"
    if abs(t) < 120:
        return f"{t:.1f} s"
    if abs(t) < 2 * HOUR:
        return f"{t / 60:.1f} min"
    return f"{t / HOUR:.2f} h"


# key, label, how to show it
FIGURES: list[tuple[str, str, Callable]] = [
    ("requests", "requests", number),
    ("error_rate", "error rate", percent),
    ("refused_share", "refused", percent),
    ("peak_active_users", "peak active users", number),
    ("peak_active_t", "peak active users at", when),
    ("peak_rps", "peak requests/s", number),
    ("peak_rps_t", "peak requests/s at", when),
    ("paid_fen", "paid (yuan)", _yuan),
    ("fraud_share", "fraud's share of payouts", percent),
    ("bans", "domain bans", number),
    ("failovers", "failovers", number),
    ("alarms", "fund-loss alarms", number),
]


def figure_rows(figures: list[dict]) -> list[tuple[str, list[str]]]:
    """One row per key figure (p95 per action last), one cell per run, in the runs' order."""
    rows = [(label, [show(f.get(key)) for f in figures]) for key, label, show in FIGURES]
    actions = sorted({a for f in figures for a in f.get("p95_ms", {})})
    rows += [(f"p95 {a} (ms)", [number(f.get("p95_ms", {}).get(a)) for f in figures])
             for a in actions]
    return rows


VERDICT_HEADER = ["run", "gate", "check", "status", "figure", "limit", "unit", "evidence"]


def verdict_row(verdict: Verdict) -> list[str]:
    """The cells of one verdict; evidence is its first lines joined by '; '."""
    return [verdict.run, verdict.gate, verdict.check, verdict.word, number(verdict.figure),
            number(verdict.limit), verdict.unit, "; ".join(evidence_lines(verdict))]


def evidence_lines(verdict: Verdict, limit: int = EVIDENCE_LINES) -> list[str]:
    """The first `limit` pieces of evidence as 't=1.25 h: detail', and how many more there are."""
    lines = [(f"t={when(e.t)}: " if e.t is not None else "") + e.detail
             for e in verdict.evidence[:limit]]
    if len(verdict.evidence) > limit:
        lines.append(f"(+{len(verdict.evidence) - limit} more)")
    return lines


DELTA_HEADER = ["figure", "baseline", "current", "change", "relative", "regressed"]


def delta_row(delta: Delta) -> list[str]:
    """The cells of one delta."""
    relative = "-" if delta.relative is None else f"{delta.relative * 100:+.1f} %"
    change = "-" if delta.delta is None else ("+" if delta.delta > 0 else "") + number(delta.delta)
    return [delta.figure, number(delta.baseline), number(delta.current), change, relative,
            "REGRESSED" if delta.regressed else ""]
