"""The capacity report in a few Markdown tables, short enough for a CI job summary."""

from __future__ import annotations

from html import escape
from typing import Sequence

from rehearse.observations import Run
from rehearse.judging.agreement import AGREEMENT_HEADER, Agreement, agreement_rows, agreement_title
from rehearse.judging.answers import launch_answers
from rehearse.judging.steps import STEP_HEADER, Step, step_rows
from rehearse.reports.compare import compare, regressions
from rehearse.reports.figures import key_figures
from rehearse.reports.rows import DELTA_HEADER, VERDICT_HEADER, delta_row, figure_rows, verdict_row
from rehearse.judging.verdicts import Tally, Verdict, tally


def render_markdown(runs: list[tuple[str, Run]], verdicts: list[Verdict],
                    baseline: dict | None = None, judged: Tally | None = None,
                    agreements: Sequence[tuple[str, Agreement]] = (),
                    steps: Sequence[tuple[str, Sequence[Step]]] = ()) -> str:
    """The verdicts, the key figures per run, each live run's load beside the simulator's, and
    (with a baseline run's key figures) the first run's regressions against it."""
    labels = [label for label, _ in runs]
    figures = [key_figures(run) for _, run in runs]
    judged = judged or tally(verdicts)
    _, _, rest = judged.headline.partition(": ")
    lines = ["## Capacity report: " + judged.word, "", escape(rest, quote=False) + ".", ""]
    if judged.outcome == "inconclusive":
        lines += ["To make it conclusive:", ""] + [f"- {escape(item, quote=False)}" for item in judged.to_conclude]
        lines += [""]
    if judged.predictions:
        lines += ["Predicted (a model fitted to what was measured; it verifies nothing):", ""]
        lines += [f"- {escape(item, quote=False)}" for item in judged.predictions] + [""]
    if verdicts:
        lines += [f"- **{a.risk}: {a.word}** ({a.source}): {escape(a.detail, quote=False)}" for a in launch_answers(verdicts)]
        lines += [""]
    if verdicts:
        lines += markdown_table(VERDICT_HEADER, [verdict_row(v) for v in verdicts]) + [""]
    if runs:
        lines += ["### Key figures", ""]
        rows = [[label, *cells] for label, cells in figure_rows(figures)]
        lines += markdown_table(["figure", *labels], rows)
        lines += [""]
    for label, measured in steps:
        lines += [f"### {label}: the peak at real concurrency (real time, 1:1)", ""]
        lines += markdown_table(STEP_HEADER, step_rows(list(measured))) + [""]
    for label, agreement in agreements:
        lines += [f"### {agreement_title(label, agreement)}", ""]
        lines += markdown_table(AGREEMENT_HEADER, agreement_rows(agreement)) + [""]
    if baseline is not None and figures:
        worse = regressions(compare(figures[0], baseline))
        lines += [f"### Against the baseline ({labels[0]})", ""]
        lines += (markdown_table(DELTA_HEADER, [delta_row(d) for d in worse]) if worse
                  else ["No regressions."]) + [""]
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines: header, rule, one line per row."""
    return [markdown_row(header), "|" + "---|" * len(header)] + [markdown_row(cells) for cells in rows]


def markdown_row(cells: list[str]) -> str:
    """A table row; markup, pipes and line breaks in cells would break it, so they are escaped."""
    clean = [escape(c, quote=False).replace("|", "\\|").replace("\n", " ") for c in cells]
    return "| " + " | ".join(clean) + " |"
