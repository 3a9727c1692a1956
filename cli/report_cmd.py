"""`rehearse report`: the capacity report (HTML, Markdown, JUnit XML, JSON) for run folders."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from rehearse.cli.options import OutDir


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--baseline", type=click.Path(path_type=Path, file_okay=False),
              help="A run folder to compare the first run with: deltas, and regressions flagged.")
@click.option("--out", type=OutDir(),
              help="Where the report files go. [default: report/ inside the first run folder]")
@click.option("--scenario", "scenario_path", type=click.Path(path_type=Path, dir_okay=False),
              help="The scenario the runs were made with. [default: the bundled one]")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
              help="The what-if overrides the runs were made with (repeatable).")
def report(runs: tuple[Path, ...], baseline: Path | None, out: Path | None, scenario_path: Path | None,
           overrides: tuple[str, ...]) -> None:
    """Build the capacity report for run folders (simulated and live runs side by side).

    Writes report.html (self-contained, plots embedded), summary.md (fits a CI job summary),
    junit.xml (one test case per gate check) and report.json (every figure). Exit 1 when a
    gate fails, as `rehearse check` does, so CI can use either.
    """
    from rehearse.cli.check_cmd import load_runs_and_scenario
    from rehearse.observations import load_run
    from rehearse.reports.bundle import write_report
    from rehearse.reports.drill_report import read_drill
    from rehearse.reports.figures import key_figures
    from rehearse.reports.gates import all_gates

    loaded, scenario = load_runs_and_scenario(runs, scenario_path, overrides)
    verdicts = [v for _, run in loaded for v in all_gates(run, scenario)]
    base = key_figures(load_run(baseline)) if baseline else None
    drill = read_drill(runs[0])  # a drill's run folder: its timeline opens the report
    page = write_report(out or (runs[0] / "report"), loaded, verdicts, base, drill)
    failed = sum(v.status == "fail" for v in verdicts)
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"report: {page}  ({'FAIL: ' + str(failed) + ' failed check(s)' if failed else 'all gates pass'})")
    if failed:
        raise click.exceptions.Exit(1)
