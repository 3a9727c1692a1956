"""`rehearse run` and `rehearse ci`: simulate, swarm, check and report in one command."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console

from rehearse.cli.options import OVERRIDES, SCENARIO_ARGUMENT, SEED, USERS_MAX, OutDir, applied
from rehearse.reference_backend.faults import check_faults
from rehearse.scenarios import load_scenario


def rehearse_all(scenario_path: Path | None, overrides: tuple[str, ...], out: Path, seed: int | None,
                 duration: float, users: int | None, host: str | None, faults: tuple[str, ...],
                 console: Console, progress: bool) -> tuple[Path, list]:
    """The main job; returns the report folder and the verdicts."""
    from rehearse.cli.swarm_cmd import stop_if_signalled, swarm_progress
    from rehearse.observations import load_run
    from rehearse.reports.bundle import write_report
    from rehearse.reports.gates import all_gates
    from rehearse.simulator.run import RunRequest, run_replicas
    from rehearse.swarm.orchestrate import SwarmRequest, check_target, run_swarm
    from rehearse.swarm.settings import SwarmSettings

    scenario = load_scenario(scenario_path, overrides)
    settings = SwarmSettings(scenario_path=scenario_path, overrides=overrides, users=users, duration_s=duration,
                             run_dir=out / "live", seed=seed, extra={"faults": list(faults)})
    request = SwarmRequest(settings=settings, host=host, faults=faults)
    settings.plan(scenario)  # bad input is refused before anything runs
    check_target(request, scenario)
    console.print(f"1/3 simulating the whole campaign ({scenario.name}) ...")
    run_replicas(RunRequest(scenario_path, overrides, seed=seed, replicas=1, jobs=1, out=out / "simulated"))
    console.print(f"2/3 swarm against {'the reference backend' if not host else host} for {duration:g} s ...")
    if progress:
        result = swarm_progress(request, scenario, console)
    else:
        result = run_swarm(request, scenario=scenario)
        if result.reason:
            console.print(f"the swarm ended early ({result.status}): {result.reason}")
    stop_if_signalled(result)
    console.print("3/3 checking the gates and building the report ...")
    runs = [("simulated", load_run(out / "simulated")), ("live", load_run(out / "live"))]
    verdicts = [v for _, run in runs for v in all_gates(run, scenario)]
    report_dir = out / "report"
    write_report(report_dir, runs, verdicts)
    return report_dir, verdicts


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
]
with_options = applied(OPTIONS)


@click.command()
@with_options
def run(scenario_path, out, seed, duration, users, host, faults, overrides) -> None:
    """The whole rehearsal: simulate the campaign, swarm the target, check the gates, report.

    Prints where the report is. Exits 0 whatever the gates say (use `rehearse ci` for their
    exit code).
    """
    from rehearse.cli.swarm_cmd import wall_duration

    out = out or _default_out("run")
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    report_dir, verdicts = rehearse_all(scenario_path, overrides, out, seed, wall_duration(duration, "--swarm-duration"), users, host,
                                        tuple(check_faults(faults)), console, progress=True)
    failed = sum(v.status == "fail" for v in verdicts)
    console.print(f"{'FAIL' if failed else 'PASS'}: {failed} failed check(s); "
                  f"report: {report_dir / 'report.html'}")


@click.command()
@with_options
def ci(scenario_path, out, seed, duration, users, host, faults, overrides) -> None:
    """`rehearse run` for CI: plain output, the Markdown summary appended to $GITHUB_STEP_SUMMARY
    when set, and the gates' exit code (0 all pass, 1 any fails, 2 bad input)."""
    from rehearse.cli.swarm_cmd import wall_duration

    out = out or _default_out("ci")
    console = Console(stderr=True, highlight=False, soft_wrap=True, force_terminal=False, no_color=True)
    report_dir, verdicts = rehearse_all(scenario_path, overrides, out, seed, wall_duration(duration, "--swarm-duration"), users, host,
                                        tuple(check_faults(faults)), console, progress=False)
    summary = (report_dir / "summary.md").read_text(encoding="utf-8")
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(summary + "\n")
    click.echo(summary)
    failed = sum(v.status == "fail" for v in verdicts)
    console.print(f"report: {report_dir / 'report.html'}")
    if failed:
        raise click.exceptions.Exit(1)
