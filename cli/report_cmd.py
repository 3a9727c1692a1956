"""`rehearse report`: the capacity report (HTML, Markdown, JUnit XML, JSON) for run folders."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from rehearse.cli.check_cmd import (ALLOW_INTERRUPTED, ALLOW_OTHER_SCENARIO, ALLOW_UNVERIFIED, RUNS_ARGUMENT,
                                    SCENARIO_OPTION)
from rehearse.cli.options import InPath, OutDir, Override
from rehearse.scenarios import UsageError


@click.command()
@RUNS_ARGUMENT
@click.option("--baseline", type=InPath(file_okay=False),
              help="A run folder of the same campaign to compare the first run with: deltas, and regressions "
                   "flagged.")
@click.option("--out", type=OutDir(),
              help="Where the report files go. [default: report/ inside the first run folder]")
@SCENARIO_OPTION
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", type=Override(),
              help="The what-if overrides the runs were made with (repeatable).")
@ALLOW_UNVERIFIED
@ALLOW_INTERRUPTED
@ALLOW_OTHER_SCENARIO
def report(runs: tuple[Path, ...], baseline: Path | None, out: Path | None, scenario_path: Path | None,
           overrides: tuple[str, ...], allow_unverified: bool, allow_interrupted: bool,
           allow_other_scenario: bool) -> None:
    """Build the capacity report for run folders (simulated and live runs side by side).

    Writes report.html (self-contained, plots embedded), summary.md (fits a CI job summary),
    junit.xml (one test case per gate check) and report.json (every figure). Exits as
    `rehearse check` does (0 PASS, 1 FAIL, 3 INCONCLUSIVE: a required check not verified or a
    run not finished, and none failed; 2 bad input), so CI can use either.
    """
    from rehearse.cli.check_cmd import load_runs_and_scenario
    from rehearse.observations import load_run
    from rehearse.reports.bundle import write_report
    from rehearse.reports.drill_report import read_drill
    from rehearse.reports.figures import key_figures
    from rehearse.calibration.peak import with_peak_predictions
    from rehearse.judging.judge import judge

    loaded, scenario = load_runs_and_scenario(runs, scenario_path, overrides, allow_other_scenario)
    base_run = load_run(baseline) if baseline is not None else None
    if base_run is not None and base_run.info.scenario != scenario.name:
        raise UsageError(f"--baseline {baseline}: a run of {base_run.info.scenario!r}, not of {scenario.name!r}; "
                         "compare with a run of the same campaign")
    judgement = with_peak_predictions(judge(loaded, scenario, allow_unverified=allow_unverified,
                                            allow_interrupted=allow_interrupted), loaded, scenario)
    base = key_figures(base_run) if base_run is not None else None
    drill = read_drill(runs[0])  # a drill's run folder: its timeline opens the report
    page = write_report(out or (runs[0] / "report"), loaded, judgement, base, drill)
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"report: {page}  ({judgement.tally.headline})")
    if judgement.exit_code:
        raise click.exceptions.Exit(judgement.exit_code)
