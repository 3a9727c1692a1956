"""Writing the capacity report's four files into one folder."""

from __future__ import annotations

import json
from pathlib import Path

from rehearse.observations import Run
from rehearse.reports.drill_report import render_drill_html, render_drill_markdown
from rehearse.reports.html import render_html
from rehearse.reports.json_report import report_json
from rehearse.reports.junit import render_junit
from rehearse.reports.markdown import render_markdown
from rehearse.judging.judge import Judgement


def write_report(folder: Path, runs: list[tuple[str, Run]], judgement: Judgement,
                 baseline: dict | None = None, drill: dict | None = None) -> Path:
    """report.html, summary.md, junit.xml and report.json in `folder`; the HTML page's path.
    With a drill (`DrillResult.as_dict()`), its timeline and verdict open the HTML and Markdown."""
    folder.mkdir(parents=True, exist_ok=True)
    verdicts, judged = list(judgement.verdicts), judgement.tally
    html = render_html(runs, verdicts, baseline, judged, judgement.agreements, judgement.steps)
    markdown = render_markdown(runs, verdicts, baseline, judged, judgement.agreements, judgement.steps)
    data = report_json(runs, verdicts, baseline, judged)
    if drill is not None:
        html = html.replace("<body>\n", "<body>\n" + render_drill_html(drill) + "\n", 1)
        markdown = render_drill_markdown(drill) + "\n" + markdown
        data["drill"] = drill
    (folder / "report.html").write_text(html, encoding="utf-8")
    (folder / "summary.md").write_text(markdown, encoding="utf-8")
    (folder / "junit.xml").write_text(render_junit(verdicts, judged), encoding="utf-8")
    (folder / "report.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return folder / "report.html"
