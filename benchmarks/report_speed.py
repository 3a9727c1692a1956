"""Building the capacity report for a full-scale simulated run (target: <= 15 s).

Simulates the bundled campaign at 1:1 once (not timed), saves its run folder, then times, in
the same process: reading the folder (the baseline), and checking the gates plus building all
four report files (HTML with plots, Markdown, JUnit, JSON) from it.

    .venv/bin/python benchmarks/report_speed.py
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from rehearse.observations import RunInfo, load_run, save_run
from rehearse.judging.gates import all_gates
from rehearse.reports.html import render_html
from rehearse.reports.json_report import report_json
from rehearse.reports.junit import render_junit
from rehearse.reports.markdown import render_markdown
from rehearse.scenarios import load_scenario
from rehearse.simulator.campaign import simulate


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="rehearse-report-bench-"))
    try:
        scenario = load_scenario()
        result = simulate(scenario, seed=1)
        save_run(work / "run", RunInfo.start(scenario, engine="simulator", seed=1, rolled_up=True),
                 result.requests, result.gauges, result.events)
        started = time.perf_counter()
        run = load_run(work / "run")
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        runs = [("simulated", run)]
        verdicts = all_gates(run, scenario)
        out = work / "report"
        out.mkdir()
        (out / "report.html").write_text(render_html(runs, verdicts))
        (out / "summary.md").write_text(render_markdown(runs, verdicts))
        (out / "junit.xml").write_text(render_junit(verdicts))
        (out / "report.json").write_text(json.dumps(report_json(runs, verdicts)))
        built = time.perf_counter() - started
        print(f"full-scale simulated run: {len(run.requests):,} rolled-up request rows "
              f"({int(run.requests['count'].sum()):,} actions), {len(run.gauges):,} gauge rows")
        print(f"  reading the run folder (baseline)   {loaded:6.2f} s")
        print(f"  gates + HTML, Markdown, JUnit, JSON {built:6.2f} s  ({built / loaded:.1f}x the read; "
              f"target <= 15 s: {'met' if built <= 15 else 'NOT met'})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
