"""The capacity report as one self-contained HTML page: inline CSS, plots as base64 data URIs,
nothing fetched from anywhere, every piece of text escaped."""

from __future__ import annotations

import base64
from typing import Callable, Sequence
from html import escape

from rehearse.observations import Run
from rehearse.judging.agreement import AGREEMENT_HEADER, Agreement, agreement_rows, agreement_title
from rehearse.judging.answers import launch_answers
from rehearse.judging.steps import STEP_HEADER, Step, step_rows
from rehearse.reports.compare import Delta, compare
from rehearse.reports.figures import key_figures
from rehearse.reports.plots import all_plots, steps_plot
from rehearse.reports.rows import DELTA_HEADER, VERDICT_HEADER, delta_row, figure_rows, verdict_row
from rehearse.judging.verdicts import Tally, Verdict, tally

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.pass td.status { background: #d9f2d9; } tr.fail td.status { background: #f8d0d0; }
tr.unverified td.status { background: #fff1c2; color: #6b5200; }
tr.not_applicable td.status, tr.off td.status { color: #666; }
tr.advisory td.status { background: #fff1c2; color: #6b5200; }
ul.answers li { margin: 0.2em 0; } ul.answers li.fail strong { color: #b00; }
ul.answers li.pass strong { color: #070; } ul.answers li.not-verified strong { color: #8a6d00; } tr.regressed { background: #f8d0d0; }
p.verdict { font-size: 1.25em; } p.verdict.fail strong { color: #b00; } p.verdict.pass strong { color: #070; }
p.verdict.inconclusive strong { color: #8a6d00; }
.none { color: #888; font-style: italic; }
"""


def render_html(runs: list[tuple[str, Run]], verdicts: list[Verdict],
                baseline: dict | None = None, judged: Tally | None = None,
                agreements: Sequence[tuple[str, Agreement]] = (),
                steps: Sequence[tuple[str, Sequence[Step]]] = ()) -> str:
    """The report page for labelled runs (shown side by side), their verdicts, each live run's
    load beside the simulator's, and, with a baseline run's key figures, the first run's deltas
    to it."""
    labels = [label for label, _ in runs]
    figures = [key_figures(run) for _, run in runs]
    scenarios = sorted({run.info.scenario for _, run in runs}) or ["no runs"]
    title = "Capacity report: " + ", ".join(scenarios)
    parts = [f"<h1>{escape(title)}</h1>", _summary(judged or tally(verdicts)), _answers(verdicts),
             "<h2>Verdicts</h2>", _verdicts(verdicts),
             "<h2>Key figures</h2>", _figures(labels, figures),
             "<h2>Plots</h2>", _plots(runs)]
    for label, measured in steps:
        rows = [("regressed" if s.status == "broke" else "", cells) for s, cells in zip(measured, step_rows(list(measured)))]
        parts += [f"<h2>{escape(label)}: the peak at real concurrency (real time, 1:1)</h2>", _table(STEP_HEADER, rows),
                  _image("latency and throughput per step", steps_plot(list(measured)))]
    for label, agreement in agreements:
        rows = [("" if f.agrees else "regressed", cells) for f, cells in zip(agreement.figures, agreement_rows(agreement))]
        parts += [f"<h2>{escape(agreement_title(label, agreement))}</h2>", _table(AGREEMENT_HEADER, rows)]
    if baseline is not None and figures:
        parts += [f"<h2>Against the baseline ({escape(labels[0])})</h2>",
                  _deltas(compare(figures[0], baseline))]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def _answers(verdicts: list[Verdict]) -> str:
    """The answers (peak, failover, budget, fraud) before any detail."""
    if not verdicts:
        return ""
    items = "".join(f'<li class="{escape(a.word.lower().replace(" ", "-"))}"><strong>{escape(a.risk)}: '
                    f"{escape(a.word)}</strong> ({escape(a.source)}): {escape(a.detail)}</li>"
                    for a in launch_answers(verdicts))
    return f'<ul class="answers">{items}</ul>'


def _summary(judged: Tally) -> str:
    """The verdict (PASS, FAIL or INCONCLUSIVE) and its counts; for an inconclusive one, what
    would make it conclusive."""
    _, _, rest = judged.headline.partition(": ")
    line = f'<p class="verdict {judged.outcome}"><strong>{judged.word}</strong>: {escape(rest)}.</p>'
    if judged.outcome == "inconclusive":
        items = "".join(f"<li>{escape(item)}</li>" for item in judged.to_conclude)
        line += f'<p>To make it conclusive:</p><ul class="to-conclude">{items}</ul>'
    if judged.predictions:
        items = "".join(f"<li>{escape(item)}</li>" for item in judged.predictions)
        line += f'<p>Predicted (a model fitted to what was measured; it verifies nothing):</p><ul class="predictions">{items}</ul>'
    return line


def _table(header: list[str], rows: list[tuple[str, list[str]]],
           cell_class: Callable[[int], str] = lambda i: "") -> str:
    """A table; rows are (row css class, cells); cell_class(index) gives each cell's css class."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for css, cells in rows:
        tds = "".join(f'<td class="{cell_class(i)}">{escape(c)}</td>' for i, c in enumerate(cells))
        body.append(f'<tr class="{escape(css)}">{tds}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _numeric_from(first: int) -> Callable[[int], str]:
    return lambda i: "num" if i >= first else ""


def _verdicts(verdicts: list[Verdict]) -> str:
    if not verdicts:
        return '<p class="none">No verdicts.</p>'
    status = VERDICT_HEADER.index("status")
    return _table(VERDICT_HEADER, [("advisory" if v.status == "fail" and v.advisory else v.status, verdict_row(v))
                                   for v in verdicts],
                  lambda i: "status" if i == status else "")


def _figures(labels: list[str], figures: list[dict]) -> str:
    rows = [("", [label, *cells]) for label, cells in figure_rows(figures)]
    return _table(["figure", *labels], rows, _numeric_from(1))


def _plots(runs: list[tuple[str, Run]]) -> str:
    """One row per plot, one column per run, so simulated and live runs sit side by side."""
    if not runs:
        return '<p class="none">No runs.</p>'
    plots = [all_plots(run) for _, run in runs]
    head = "".join(f"<th>{escape(label)}</th>" for label, _ in runs)
    rows = []
    for title in plots[0]:
        cells = "".join(f"<td>{_image(title, p[title])}</td>" for p in plots)
        rows.append(f"<tr><th>{escape(title)}</th>{cells}</tr>")
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _image(title: str, png: bytes | None) -> str:
    if png is None:
        return '<span class="none">no data in this run</span>'
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(title)}" width="700">'


def _deltas(deltas: list[Delta]) -> str:
    rows = [("regressed" if d.regressed else "", delta_row(d)) for d in deltas]
    return _table(DELTA_HEADER, rows, _numeric_from(1))
