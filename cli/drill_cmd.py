"""`rehearse drill`: play one of the scenario's incident drills and judge it on a timeline."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rehearse.cli.options import (DRY_RUN, FORCE, OVERRIDES, SCENARIO_ARGUMENT, SEED, OutDir, TotpSecret, WallTime, applied,
                                  force_only, host_only, only_with, shown, target_options)
from rehearse.reference_backend.faults import check_faults
from rehearse.scenarios import UsageError

STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow", "unverified": "yellow", "not verified": "yellow",
         "deadline met": "green", "deadline missed": "red", "incident": "bold", "noticed": "cyan",
         "system": "magenta"}


@click.command()
@SCENARIO_ARGUMENT
@click.option("--drill", "name", metavar="NAME", help="The drill to play. [default: list the scenario's drills]")
@click.option("--live", is_flag=True, help="Play it against the target through a Locust swarm instead of "
              "the simulator.")
@applied(target_options(when="With --live: "))
@click.option("--duration", type=WallTime(), help="With --live: wall time to play the drill's window in. "
              "[default: 20s]")
@click.option("--scale", default="1:100", show_default=True, help="With --live: 1:K, one user plays K participants.")
@click.option("--otp-secret", envvar="REHEARSE_OTP_SECRET", type=TotpSecret(),
              help="With --live --host: the TOTP secret for top-ups (a drill with a delayed_topup incident; "
                   "env REHEARSE_OTP_SECRET).")
@OVERRIDES
@click.option("--seed", type=SEED, help="Seed. [default: the scenario's]")
@click.option("--out", type=OutDir(),
              help="Run folder. [default: runs/drill-NAME-TIME]")
@FORCE
@DRY_RUN
@click.pass_context
def drill(ctx: click.Context, scenario_path: Path | None, name: str | None, live: bool, host: str | None,
          faults: tuple[str, ...], duration: float | None, scale: str, ops_token: str | None, otp_secret: str | None,
          allow_remote: bool, overrides: tuple[str, ...], seed: int | None, out: Path | None, force: bool,
          dry_run: bool) -> None:
    """Play an incident drill of the scenario (default: the bundled one) and judge it.

    A drill (the scenario's `drills:` section) injects incidents on a timeline (domain bans,
    a fraud wave, a late budget top-up, a backend slowdown) and expects responses within
    deadlines (failover, the fund-loss alarm, payouts resuming, latency recovering), while
    named launch gates hold. It runs in the simulator (seconds), or with --live against the
    target through the swarm, its window compressed into --duration. Prints the timeline
    (what happened, when it was noticed, what the system did, each deadline met or missed),
    writes it with the report into the run folder, and exits 0 if the drill passes, 1 if it
    fails, 3 if it is inconclusive (nothing failed, nothing it checks could be judged), 2 on
    bad input.

    \b
    Examples:
      rehearse drill                                   # list the drills
      rehearse drill --drill ban_wave                  # in the simulator
      rehearse drill --drill ban_wave --set 'links.backup_domains=[]'
      rehearse drill --drill fraud_wave --live         # against the reference backend
      rehearse drill --drill fraud_wave --live --fault no-antifraud
      rehearse drill --drill ban_wave --live --host http://127.0.0.1:8700 --ops-token TOKEN
      rehearse drill --drill fraud_wave --live --dry-run   # the plan, nothing started
    """
    from rehearse.scenarios import load_scenario

    _check_options(ctx, name, live, host)
    scenario = load_scenario(scenario_path, overrides)
    out_console = Console(highlight=False, width=max(Console().width, 110))
    if name is None:
        out_console.print(drill_list(scenario))
        return
    from rehearse.scenarios.drills import find_drill

    find_drill(scenario, name)
    if otp_secret is not None and not any(i.kind == "delayed_topup" for i in scenario.drills[name].incidents):
        raise UsageError(f"{shown(ctx, 'otp_secret')}: drill {name} has no delayed_topup incident, so nothing "
                         "tops up; leave the secret out")
    planted = tuple(check_faults(faults))
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = out or Path("runs") / f"drill-{name}-{stamp}"
    if live:
        from rehearse.cli.swarm_cmd import swarm_progress
        from rehearse.swarm.drill import LiveDrill, live_request
        from rehearse.swarm.orchestrate import stop_if_harness_failed, stop_if_signalled

        request = live_request(LiveDrill(
            scenario_path=scenario_path, overrides=overrides, drill=name, host=host, faults=planted,
            duration_s=duration or 20.0, scale=scale, ops_token=ops_token,
            otp_secret=otp_secret, allow_remote=allow_remote, seed=seed, out=folder, force=force), scenario)
        played = request.settings.load()
        if dry_run:
            from rehearse.swarm.orchestrate import check_target

            check_target(request, played)  # the host, as the live run checks it (never reached)
            _print_plan(scenario, name, folder, request, played)
            return
        result = swarm_progress(request, played, console)
        stop_if_signalled(result)
        stop_if_harness_failed(result)
        if result.status != "finished":
            console.print(f"the live run ended {result.status}; judging what it measured")
    elif dry_run:
        _print_plan(scenario, name, folder)
        return
    else:
        from rehearse.simulator.run import run_drill

        with console.status(f"simulating the campaign with drill {name}"):
            run_drill(scenario_path, overrides, name, seed, folder, force)
    result, page = judge_and_report(folder, scenario, name)
    out_console.print(*drill_tables(result.as_dict()))
    console.print(f"run folder: {folder}  report: {page}")
    if result.exit_code:
        raise click.exceptions.Exit(result.exit_code)


LIVE_ONLY = ("host", "faults", "duration", "scale", "ops_token", "otp_secret", "allow_remote")


def _check_options(ctx: click.Context, name: str | None, live: bool, host: str | None) -> None:
    """Flags the drill's mode would ignore are refused: playing options without --drill (it
    lists the drills), live options without --live, a given target's options without --host."""
    only_with(ctx, ("live", *LIVE_ONLY, "seed", "out", "force"), name is not None, "to play a drill (without --drill "
              "the command lists them)", "add --drill NAME")
    only_with(ctx, LIVE_ONLY, live, "to a live drill", "add --live")
    host_only(ctx, host, ("ops_token", "allow_remote", "otp_secret"))
    force_only(ctx, ctx.params.get("out"))


def _print_plan(scenario, name: str, folder: Path, request=None, played=None) -> None:
    """A dry run of a drill: its window, incidents and expectations, and where it would play."""
    from rehearse.cli.swarm_cmd import print_dry_run, swarm_banner

    d = scenario.drills[name]
    window = d.window if isinstance(d.window, str) else f"{d.window.start:g} s +{d.window.duration:g} s"
    lines = [f"drill {name}: {d.title}; window {window}",
             "incidents: " + ", ".join(f"{i.kind} at {i.at / 60:g} min" for i in d.incidents),
             "expected: " + ", ".join(f"{r.kind} within {r.within / 60:g} min" for r in d.expect)]
    if request is None:
        lines.append("in the simulator (the whole campaign with the drill's incidents)")
    else:
        lines.append("live: " + swarm_banner(request, played, request.settings.plan(played)))
    print_dry_run([*lines, f"run folder: {folder}"])


def judge_and_report(folder: Path, scenario, name: str):
    """Judge the drill on its run folder; write drill.json, drill.md and the report there."""
    from rehearse.observations import load_run
    from rehearse.reports.bundle import write_report
    from rehearse.reports.drill_report import write_drill
    from rehearse.judging.drills import judge_drill
    from rehearse.judging.judge import Judgement
    from rehearse.judging.verdicts import tally

    run = load_run(folder)
    result = judge_drill(run, scenario, name)
    data = result.as_dict()
    write_drill(folder, data)
    verdicts = list(result.responses) + list(result.steady_state)
    page = write_report(folder / "report", [(run.info.engine, run)], Judgement(tuple(verdicts), tally(verdicts)),
                        drill=data)
    return result, page


def drill_list(scenario) -> Table:
    """The scenario's drills: name, title, window, incidents, expected responses."""
    table = Table(title=f"Drills of {scenario.name}" + ("" if scenario.drills else ": none"))
    for column in ("drill", "title", "window", "incidents", "expected"):
        table.add_column(column)
    for name, d in scenario.drills.items():
        window = d.window if isinstance(d.window, str) else f"{d.window.start:g} s +{d.window.duration:g} s"
        table.add_row(name, d.title, window, ", ".join(f"{i.kind} at {i.at / 60:g} min" for i in d.incidents),
                      ", ".join(f"{r.kind} within {r.within / 60:g} min" for r in d.expect))
    return table


def drill_tables(data: dict) -> list:
    """The verdict line, the timeline and the checks, for the terminal."""
    from rehearse.reports.drill_report import CHECK_HEADER, STATUS_WORD, check_rows, timeline_rows

    status = data["status"]
    head = (f"[bold]drill {escape(data['drill'])}[/]: {escape(data['title'])} ({data['engine']}) -> "
            f"[{STYLE[status]}]{STATUS_WORD[status]}[/]")
    timeline = Table(title="Timeline (campaign time after launch)")
    for column in ("time", "what", "detail"):
        timeline.add_column(column, overflow="fold")
    for row in timeline_rows(data):
        timeline.add_row(row[0], Text(row[1], style=STYLE.get(row[1], "")), escape(row[2]))
    tables = [head, timeline]
    for title, checks in (("Expected responses", data["responses"]), ("Steady state", data["steady_state"])):
        if not checks:
            continue
        table = Table(title=title)
        for column in CHECK_HEADER:
            table.add_column(column, overflow="fold")
        for row in check_rows(checks):
            table.add_row(escape(row[0]), Text(row[1], style=STYLE.get(row[1].lower(), "")), *map(escape, row[2:]))
        tables.append(table)
    return tables
