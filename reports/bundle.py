"""Writing the capacity report's four files into one folder."""

from __future__ import annotations

import json
from pathlib import Path

from observations import Run
from reports.html import render_html
from reports.json_report import report_json
from reports.junit import render_junit
from reports.markdown import render_markdown
from reports.verdicts import Verdict


def write_report(folder: Path, runs: list[tuple[str, Run]], verdicts: list[Verdict],
                 baseline: dict | None = None) -> Path:
    """report.html, summary.md, junit.xml and report.json in `folder`; the HTML page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text(render_html(runs, verdicts, baseline), encoding="utf-8")
    (folder / "summary.md").write_text(render_markdown(runs, verdicts, baseline), encoding="utf-8")
    (folder / "junit.xml").write_text(render_junit(verdicts), encoding="utf-8")
    (folder / "report.json").write_text(json.dumps(report_json(runs, verdicts, baseline), indent=2),
                                        encoding="utf-8")
    return folder / "report.html"
