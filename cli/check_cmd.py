"""`rehearse check`: the launch gates on run folders; exit 0 all pass, 1 any fails, 2 bad input."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from rehearse.scenarios import UsageError

STYLE = {"pass": "green", "fail": "bold red", "skip": "dim"}


def load_runs_and_scenario(runs: tuple[Path, ...], scenario_path: Path | None, overrides: tuple[str, ...]):
    """The runs and the scenario to judge them by; a run of another campaign is a usage error."""
    from rehearse.observations import load_run
    from rehearse.scenarios import load_scenario

    scenario = load_scenario(scenario_path, overrides)
    loaded = []
    for folder in runs:
        run = load_run(folder)
        if run.info.scenario != scenario.name:
            raise UsageError(f"{folder}: a run of {run.info.scenario!r}, not of {scenario.name!r}; "
                             "pass the scenario it was made with (--scenario)")
        loaded.append((str(folder), run))
    return loaded, scenario


def _figure(value: float | None, unit: str) -> str:
    """A verdict's figure or limit as the report shows it, with its unit."""
    from rehearse.reports.rows import number, percent

    if unit in ("share", "share of budget"):
        return percent(value)
    return "-" if value is None else f"{number(value)} {unit}"


def verdict_table(title: str, verdicts) -> Table:
    table = Table(title=title)
    for column in ("gate", "check", "status", "figure", "limit", "evidence"):
        table.add_column(column, no_wrap=column in ("gate", "status"))
    for v in verdicts:
        evidence = v.evidence[0] if v.evidence else None
        where = "" if evidence is None or evidence.t is None else f"t={evidence.t:,.0f}s "
        table.add_row(v.gate, v.check, f"[{STYLE[v.status]}]{v.status}[/]", _figure(v.figure, v.unit),
                      _figure(v.limit, v.unit), (where + evidence.detail) if evidence else "")
    return table


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--scenario", "scenario_path", type=click.Path(path_type=Path, dir_okay=False),
              help="The scenario the runs were made with. [default: the bundled one]")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
              help="The what-if overrides the runs were made with (repeatable).")
def check(runs: tuple[Path, ...], scenario_path: Path | None, overrides: tuple[str, ...]) -> None:
    """Judge run folders (simulated or live) by the scenario's launch gates.

    Peak concurrency (target active users, p95 per action, error rate in the peak window),
    link-ban failover (links off a banned domain in time, visits lost, backup pool never
    empty), payout budget (never overdrawn, never paid twice, fraud's share, an early alarm)
    and the campaign's rules. Exit 0 when every gate passes, 1 when any fails, 2 on bad input.
    A check with nothing to judge in a run is shown as skip.
    """
    from rehearse.reports.gates import all_gates

    loaded, scenario = load_runs_and_scenario(runs, scenario_path, overrides)
    console = Console(highlight=False, width=max(Console().width, 120))
    failed = 0
    for folder, run in loaded:
        verdicts = all_gates(run, scenario)
        failed += sum(v.status == "fail" for v in verdicts)
        console.print(verdict_table(f"{folder} ({run.info.engine}, {run.info.status})", verdicts))
    console.print(f"{'FAIL' if failed else 'PASS'}: {failed} failed check(s) in {len(loaded)} run(s)")
    if failed:
        raise click.exceptions.Exit(1)
