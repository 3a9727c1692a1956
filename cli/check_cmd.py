"""`rehearse check`: the launch gates on run folders; exit 0 all pass, 1 any fails or a required
check is not verified or a run did not finish, 2 bad input."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from rehearse.cli.options import InPath, Override
from rehearse.scenarios import UsageError

STYLE = {"pass": "green", "fail": "bold red", "unverified": "yellow", "not_applicable": "dim", "off": "dim"}
ALLOW_UNVERIFIED = click.option(
    "--allow-unverified", is_flag=True,
    help="Exploring: a required check the runs did not verify does not make the verdict INCONCLUSIVE.")
ALLOW_INTERRUPTED = click.option(
    "--allow-interrupted", is_flag=True,
    help="Exploring: judge an interrupted or unfinished run as it is (else the verdict is INCONCLUSIVE at best).")
ALLOW_OTHER_SCENARIO = click.option(
    "--allow-other-scenario", is_flag=True,
    help="Judge runs made with another version of the campaign's scenario (their run.json's "
         "scenario_digest differs from --scenario with the --set given) as if made with this one.")
RUNS_ARGUMENT = click.argument("runs", nargs=-1, required=True, type=InPath(file_okay=False))
SCENARIO_OPTION = click.option("--scenario", "scenario_path", type=InPath(dir_okay=False, example="scenario.yaml"),
                               help="The scenario the runs were made with. [default: the bundled one]")


def load_runs_and_scenario(runs: tuple[Path, ...], scenario_path: Path | None, overrides: tuple[str, ...],
                           allow_other_scenario: bool = False):
    """The runs and the scenario to judge them by; a run of another campaign, a run given
    twice, or (unless allowed) a run made with another version of the scenario is a usage error."""
    from rehearse.observations import load_run
    from rehearse.scenarios import load_scenario

    seen: dict[Path, Path] = {}
    for folder in runs:
        same = seen.setdefault(folder.resolve(), folder)
        if same is not folder:
            raise UsageError(f"{folder}: given twice (as {same}); give each run folder once")
    scenario = load_scenario(scenario_path, overrides)
    loaded = []
    for folder in runs:
        run = load_run(folder)
        if run.info.scenario != scenario.name:
            raise UsageError(f"{folder}: a run of {run.info.scenario!r}, not of {scenario.name!r}; "
                             "pass the scenario it was made with (--scenario)")
        if not allow_other_scenario:
            check_digest(folder, run.info, scenario, scenario_path, overrides)
        loaded.append((str(folder), run))
    return loaded, scenario


def check_digest(folder: Path, info, scenario, scenario_path: Path | None, overrides: tuple[str, ...]) -> None:
    """A run is judged by the scenario it was made with: its run.json's scenario_digest must be
    the scenario's (a live drill's run: with the drill's window it added)."""
    digest = scenario.digest()
    if info.scenario_digest == digest or info.scenario_digest == _drill_digest(info, scenario, scenario_path,
                                                                              overrides):
        return
    made = info.extra.get("overrides")
    hint = (f" (it was made with {' '.join(f'--set {o}' for o in made)})" if isinstance(made, list) and made
            else "")
    given = f"{scenario_path or 'the bundled scenario'}" + (f" with {len(overrides)} --set" if overrides else "")
    raise UsageError(f"{folder}: made with scenario digest {info.scenario_digest}, but {given} has digest "
                     f"{digest}: pass the scenario file and the --set overrides the run was made with{hint}, "
                     "or --allow-other-scenario to judge it by this one anyway")


def _drill_digest(info, scenario, scenario_path: Path | None, overrides: tuple[str, ...]) -> str | None:
    """The digest of the scenario a live drill's swarm played (its inline window added), or None."""
    name = info.extra.get("drill")
    if not info.live or not isinstance(name, str) or name not in scenario.drills:
        return None
    from rehearse.swarm.drill import LiveDrill, live_request

    request = live_request(LiveDrill(scenario_path=scenario_path, overrides=overrides, drill=name), scenario)
    return request.settings.load().digest() if request.settings.overrides != overrides else None


def _figure(value: float | None, unit: str) -> str:
    """A verdict's figure or limit as the report shows it, with its unit."""
    from rehearse.reports.rows import number, percent

    if unit in ("share", "share of budget"):
        return percent(value)
    return "-" if value is None else f"{number(value)} {unit}"


def verdict_table(title: str, verdicts, required: frozenset[str] = frozenset()) -> Table:
    """One run's verdicts; a check in `required` (keys) not verified is marked as such."""
    from rehearse.judging.verdicts import requires

    table = Table(title=title)
    for column in ("gate", "check", "status", "figure", "limit", "evidence"):
        table.add_column(column, no_wrap=column in ("gate", "status"))
    for v in verdicts:
        evidence = v.evidence[0] if v.evidence else None
        where = "" if evidence is None or evidence.t is None else f"t={evidence.t:,.0f}s "
        word = v.word + (" (required)" if v.status == "unverified" and requires(v.key, tuple(required)) else "")
        style = STYLE["unverified"] if v.status == "fail" and v.advisory else STYLE[v.status]
        table.add_row(v.gate, v.check, f"[{style}]{word}[/]", _figure(v.figure, v.unit),
                      _figure(v.limit, v.unit), (where + evidence.detail) if evidence else "")
    return table


def print_judgement(console: Console, runs, judgement, required) -> None:
    """Each run's verdict table, then the headline."""
    for label, run in runs:
        kind = "" if run.info.live else ", simulated: a prediction, it verifies nothing about the target"
        mine = [v for v in judgement.verdicts if v.run == label]
        console.print(verdict_table(f"{label} ({run.info.engine}, {run.info.status}{kind})", mine,
                                    frozenset(required) if run.info.live else frozenset()))
    print_verdict(console, judgement.tally)


def print_verdict(console: Console, tally) -> None:
    """The headline (PASS, FAIL or INCONCLUSIVE and its counts) and, for an inconclusive one, what
    would make it conclusive."""
    console.print(tally.headline, soft_wrap=True, markup=False)
    if tally.outcome == "inconclusive":
        console.print("to make it conclusive:", markup=False)
        for line in tally.to_conclude:
            console.print(f"  - {line}", soft_wrap=True, markup=False)
    for line in tally.predictions:
        console.print(f"prediction: {line}", soft_wrap=True, markup=False)


@click.command()
@RUNS_ARGUMENT
@SCENARIO_OPTION
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", type=Override(),
              help="The what-if overrides the runs were made with (repeatable).")
@ALLOW_UNVERIFIED
@ALLOW_INTERRUPTED
@ALLOW_OTHER_SCENARIO
def check(runs: tuple[Path, ...], scenario_path: Path | None, overrides: tuple[str, ...],
          allow_unverified: bool, allow_interrupted: bool, allow_other_scenario: bool) -> None:
    """Judge run folders (simulated or live) by the scenario's launch gates.

    Peak concurrency (target active users, p95 per action, error rate in the peak window),
    link-ban failover (links off a banned domain in time, visits lost, backup pool never
    empty), payout budget from the harness's own rows (never overdrawn in all or per pool,
    no attempt paid twice, prizes within the rules, the target's books, fraud's share, an early
    alarm) and the campaign's rules.

    A check with nothing to judge is "not verified", never a pass. The verdict is PASS, FAIL
    or INCONCLUSIVE. Exit 0 when every check passes (PASS); 1 when one fails (FAIL); 3 when
    none failed but a run against the target did not verify a check the scenario requires
    (gates.required), or a run did not finish (INCONCLUSIVE, with what would make it
    conclusive); 2 on bad input (a missing table file, another campaign's run, a run made with
    another version of the scenario unless --allow-other-scenario). A simulated run can fail a
    check but verifies nothing about the target.
    """
    from rehearse.calibration.peak import with_peak_predictions
    from rehearse.judging.judge import judge

    loaded, scenario = load_runs_and_scenario(runs, scenario_path, overrides, allow_other_scenario)
    console = Console(highlight=False, width=max(Console().width, 120))
    judgement = with_peak_predictions(judge(loaded, scenario, allow_unverified=allow_unverified,
                                            allow_interrupted=allow_interrupted), loaded, scenario)
    print_judgement(console, loaded, judgement, {v.key for v in judgement.verdicts if scenario.requires(v.key)})
    if judgement.exit_code:
        raise click.exceptions.Exit(judgement.exit_code)
