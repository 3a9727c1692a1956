"""`rehearse run` and `rehearse ci`: simulate, swarm, check and report in one command."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console

from rehearse.cli.check_cmd import ALLOW_INTERRUPTED, ALLOW_UNVERIFIED
from rehearse.cli.options import OVERRIDES, SCENARIO_ARGUMENT, SEED, USERS_MAX, OutDir, applied
from rehearse.reference_backend.faults import check_faults
from rehearse.scenarios import load_scenario


def rehearse_all(scenario_path: Path | None, overrides: tuple[str, ...], out: Path, seed: int | None,
                 duration: float, users: int | None, host: str | None, faults: tuple[str, ...],
                 console: Console, progress: bool, allow_unverified: bool = False,
                 allow_interrupted: bool = False):
    """The main job; returns the report folder and the judgement (`reports.judge.Judgement`)."""
    from rehearse.cli.swarm_cmd import stop_if_signalled, swarm_progress
    from rehearse.observations import load_run
    from rehearse.reports.bundle import write_report
    from rehearse.reports.judge import judge
    from rehearse.simulator.run import RunRequest, run_replicas
    from rehearse.swarm.orchestrate import SwarmRequest, check_target, run_swarm
    from rehearse.swarm.settings import RehearsalPlan, SwarmSettings

    scenario = load_scenario(scenario_path, overrides)
    # the launch's incidents, live: early birds in the preheat, a ban a third into the window, a
    # budget race at two thirds
    window = scenario.traffic.windows[scenario.gates.peak.window]
    rehearsal = RehearsalPlan(ban_at=window.duration / 3, race_at=window.duration * 2 / 3, preheat=True)
    settings = SwarmSettings(scenario_path=scenario_path, overrides=overrides, users=users, duration_s=duration,
                             run_dir=out / "live", seed=seed, rehearsal=rehearsal, extra={"faults": list(faults)})
    request = SwarmRequest(settings=settings, host=host, faults=faults)
    settings.plan(scenario)  # bad input is refused before anything runs
    check_target(request, scenario)
    console.print(f"1/3 simulating the whole campaign ({scenario.name}) ...")
    run_replicas(RunRequest(scenario_path, overrides, seed=seed, replicas=1, jobs=1, out=out / "simulated"))
    console.print(f"2/3 swarm against {'the reference backend' if not host else host} for {duration:g} s, "
                  "with a domain ban a third of the way in and a budget race at two thirds ...")
    if progress:
        result = swarm_progress(request, scenario, console)
    else:
        result = run_swarm(request, scenario=scenario)
        if result.reason:
            console.print(f"the swarm ended early ({result.status}): {result.reason}")
    stop_if_signalled(result)
    console.print("3/3 checking the gates and building the report ...")
    runs = [("simulated", load_run(out / "simulated")), ("live", load_run(out / "live"))]
    judgement = judge(runs, scenario, allow_unverified=allow_unverified, allow_interrupted=allow_interrupted)
    report_dir = out / "report"
    write_report(report_dir, runs, judgement)
    return report_dir, judgement


def print_answers(console: Console, judgement) -> None:
    """The three answers first: peak, failover, budget."""
    from rehearse.reports.answers import three_answers

    for answer in three_answers(judgement.verdicts):
        console.print(answer.line, markup=False, highlight=False)
    print_agreements(console, judgement)


def print_agreements(console: Console, judgement) -> None:
    """Each live run's load beside the simulator's: what differs, or that it agrees."""
    from rich.table import Table

    from rehearse.reports.agreement import AGREEMENT_HEADER, agreement_rows, agreement_title

    for label, agreement in judgement.agreements:
        off = agreement.disagreeing()
        table = Table(*AGREEMENT_HEADER, title=agreement_title(label, agreement), title_justify="left")
        for figure, cells in zip(agreement.figures, agreement_rows(agreement)):
            if figure.group != "requests/s by action" or not figure.agrees:  # actions only where they differ
                table.add_row(*cells, style="" if figure.agrees else "bold red")
        console.print(table)
        console.print(f"the live load is not the scenario's load: {', '.join(f.label for f in off)} differ"
                      if off else "the live load is the scenario's load (every figure agrees)",
                      markup=False, highlight=False)


def _default_out(kind: str) -> Path:
    return Path("runs") / f"{kind}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"


OPTIONS = [
    SCENARIO_ARGUMENT,
    click.option("--out", type=OutDir(),
                 help="Folder for the runs and the report. [default: runs/run-TIME]"),
    click.option("--seed", type=SEED, help="Seed for both engines. [default: the scenario's]"),
    click.option("--swarm-duration", "duration", default="30s", show_default=True,
                 help="Wall time of the swarm (it plays the peak window in it)."),
    click.option("--users", type=click.IntRange(1, USERS_MAX), help="Swarm users at the peak. [default: from the scenario]"),
    click.option("--host", help="Campaign backend URL for the swarm. [default: the reference backend]"),
    click.option("--fault", "faults", multiple=True, metavar="NAME",
                 help="Plant a defect in the auto-started reference backend (repeatable)."),
    OVERRIDES,
    ALLOW_UNVERIFIED,
    ALLOW_INTERRUPTED,
]
with_options = applied(OPTIONS)


@click.command()
@with_options
def run(scenario_path, out, seed, duration, users, host, faults, overrides, allow_unverified,
        allow_interrupted) -> None:
    """The whole rehearsal: simulate the campaign, swarm the target, check the gates, report.

    Prints the verdict (a check that fails, or one the scenario requires that the live run
    did not verify, makes it FAIL) and where the report is. Exits 0 whatever the gates say
    (use `rehearse ci` for their exit code).
    """
    from rehearse.cli.swarm_cmd import wall_duration

    out = out or _default_out("run")
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    report_dir, judgement = rehearse_all(scenario_path, overrides, out, seed, wall_duration(duration, "--swarm-duration"),
                                         users, host, tuple(check_faults(faults)), console, True, allow_unverified,
                                         allow_interrupted)
    print_answers(console, judgement)
    console.print(f"{judgement.tally.headline}\nreport: {report_dir / 'report.html'}")


@click.command()
@with_options
def ci(scenario_path, out, seed, duration, users, host, faults, overrides, allow_unverified,
       allow_interrupted) -> None:
    """`rehearse run` for CI: plain output, the Markdown summary appended to $GITHUB_STEP_SUMMARY
    when set, and the gates' exit code (0 all pass; 1 a check fails, a required one is not
    verified or the run did not finish; 2 bad input)."""
    from rehearse.cli.swarm_cmd import wall_duration

    out = out or _default_out("ci")
    console = Console(stderr=True, highlight=False, soft_wrap=True, force_terminal=False, no_color=True)
    report_dir, judgement = rehearse_all(scenario_path, overrides, out, seed, wall_duration(duration, "--swarm-duration"),
                                         users, host, tuple(check_faults(faults)), console, False, allow_unverified,
                                         allow_interrupted)
    summary = (report_dir / "summary.md").read_text(encoding="utf-8")
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(summary + "\n")
    click.echo(summary)
    print_answers(console, judgement)
    console.print(f"{judgement.tally.headline}\nreport: {report_dir / 'report.html'}")
    if judgement.exit_code:
        raise click.exceptions.Exit(judgement.exit_code)
