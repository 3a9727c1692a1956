"""`rehearse swarm`: Locust swarms of the scenario's personas against a campaign backend."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from rehearse.cli.options import (DRY_RUN, OVERRIDES, SCENARIO_ARGUMENT, SEED, SPEED_MAX, USERS_MAX, WORKERS_MAX,
                                  FiniteFloat, OutDir, WallTime, applied, force_only, host_only, only_with,
                                  target_options, FORCE)
from rehearse.reference_backend.faults import check_faults
from rehearse.swarm.settings import MIN_STEP_S
from rehearse.swarm.status import SwarmStatus


@click.command()
@SCENARIO_ARGUMENT
@click.option("--window", help="Traffic window to play, e.g. launch_hour. [default: the peak gate's]")
@click.option("--users", type=click.IntRange(1, USERS_MAX), help="Locust users (slots that play the arriving "
              "participants) at most. [default: as many as the window's concurrency needs]")
@click.option("--scale", help="1:K, the run plays one participant in K. [default: 1:100; 1:1 with --steps]")
@click.option("--compress", type=FiniteFloat(min=0, min_open=True, max=SPEED_MAX),
              help="Campaign seconds per wall second. [default: fit the window into --duration]")
@click.option("--duration", type=WallTime(), help="Wall time to play the window in, e.g. 60s. [default: 60s]")
@click.option("--workers", type=click.IntRange(0, WORKERS_MAX), default=0, show_default=True,
              help="Local Locust worker processes (0: one process does everything).")
@click.option("--out", "run_dir", type=OutDir(),
              help="Run folder for the observations. [default: runs/swarm-TIME]")
@OVERRIDES
@click.option("--seed", type=SEED, help="Seed for identities and journeys. [default: the scenario's]")
@click.option("--ban-at", metavar="TIME", help="Ban a domain the target is issuing this far into the window "
              "(campaign time, e.g. 20m); a prober asks for share links 5 times a second to time the failover.")
@click.option("--race-at", metavar="TIME", help="Cut a prize pool small this far into the window (limit_pool) "
              "and race its payouts with fresh participants.")
@click.option("--racers", type=click.IntRange(min=2, max=500), default=40, show_default=True,
              help="With --race-at: participants in the budget race.")
@click.option("--preheat-probe", is_flag=True, help="Before the window, a few participants try to take part "
              "in the preheat (the target's clock set there through set_clock): it must refuse them.")
@click.option("--flagged-probe", is_flag=True, help="At the window's start, a few participants on virtual-segment "
              "and blacklisted numbers try to log in and open an envelope: the target must refuse them.")
@click.option("--steps", metavar="N,N,...", help="A step load instead of the window's clock: keep N participants "
              "of the window playing in each step (real time, 1:1), e.g. 500,1000,2000.")
@click.option("--step-duration", metavar="TIME", type=WallTime(min_s=MIN_STEP_S), default="20s", show_default=True,
              help="With --steps: wall time of each step.")
@applied(target_options())
@FORCE
@DRY_RUN
@click.pass_context
def swarm(ctx: click.Context, scenario_path: Path | None, host: str | None, window: str | None, users: int | None,
          scale: str | None, compress: float | None, duration: float | None, workers: int, run_dir: Path | None,
          faults: tuple[str, ...], overrides: tuple[str, ...], seed: int | None, ban_at: str | None,
          race_at: str | None, racers: int, preheat_probe: bool, flagged_probe: bool, steps: str | None,
          step_duration: float, ops_token: str | None, allow_remote: bool, force: bool, dry_run: bool) -> None:
    """Run a Locust swarm of the scenario's personas (default: the bundled scenario).

    Plays a window of the campaign (e.g. the launch hour) scaled down in population (--scale)
    and compressed in time (--compress or --duration): the participants the simulator has
    arriving in that window (one in K at 1:K), each when due, playing its persona's journey
    once; normal users, sharers and their invitees, fraud scripts and returning preheat
    browsers, so as many are active at once as in the campaign (divided by K). Share links are visited through a model of the social platform that bans domains by
    the scenario's rule. Observations go to a run folder (requests, gauges, events, run.json).
    Load goes to 127.0.0.1 only, unless --allow-remote and the scenario's allow-list say so.

    \b
    Examples:
      rehearse swarm --duration 60s
      rehearse swarm --fault no-antifraud --duration 30s
      rehearse swarm --host http://127.0.0.1:8700 --ops-token TOKEN --workers 2
      rehearse swarm --ban-at 20m --race-at 40m --fault no-failover
      rehearse swarm --steps 250,500,1000 --step-duration 20s
      rehearse swarm --ban-at 20m --dry-run            # the plan, nothing started
    """
    from rehearse.observations import load_run
    from rehearse.swarm.orchestrate import SwarmRequest
    from rehearse.swarm.settings import RehearsalPlan, SwarmSettings, option_seconds, parse_scale, parse_steps

    host_only(ctx, host)
    force_only(ctx, run_dir)
    only_with(ctx, ["step_duration"], steps is not None, "with --steps (a step load)", "add --steps N,N,...")
    only_with(ctx, ["racers"], race_at is not None, "with --race-at (a budget race)", "add --race-at TIME")
    rehearsal = RehearsalPlan(ban_at=option_seconds("--ban-at", ban_at), race_at=option_seconds("--race-at", race_at),
                              racers=racers, preheat=preheat_probe, flagged=flagged_probe)
    settings = SwarmSettings(scenario_path=scenario_path, overrides=overrides, window=window, users=users,
                             scale=parse_scale(scale) if scale is not None or steps is None else 1.0,
                             compress=compress, duration_s=duration,
                             run_dir=run_dir, ops_token=ops_token, seed=seed, rehearsal=rehearsal,
                             steps=parse_steps(steps), step_s=step_duration,
                             extra={"workers": workers, "faults": list(faults)})
    request = SwarmRequest(settings=settings, host=host, faults=tuple(check_faults(faults)),
                           workers=workers, allow_remote=allow_remote, force=force)
    scenario = settings.load()
    if dry_run:
        from rehearse.swarm.orchestrate import check_target
        from rehearse.swarm.runtime import default_run_dir

        plan = settings.plan(scenario)
        check_target(request, scenario)
        print_dry_run([swarm_banner(request, scenario, plan), *swarm_plan_lines(settings, plan),
                       f"run folder: {run_dir or default_run_dir()}"])
        return
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    result = swarm_progress(request, scenario, console)
    run = load_run(result.run_dir)
    Console(highlight=False, width=max(Console().width, 100)).print(*summary_tables(run, result.status))
    console.print(f"run folder: {result.run_dir}  ({result.status})", markup=False)
    if result.exit_code:
        raise click.exceptions.Exit(result.exit_code)


def swarm_progress(request, scenario, console: Console):
    """Run the swarm with a progress bar; the SwarmResult. Bad input is refused before the
    banner; a run that ends early says why."""
    from rehearse.swarm.orchestrate import check_target, run_swarm
    from rehearse.client.safety import check_reachable

    check_target(request, scenario)
    if request.host:
        check_reachable(request.host, request.wait_s)
    with SwarmBar(console, request, scenario) as bar:
        result = run_swarm(request, bar.show, scenario)
    said_ended_early(console, result.status, result.reason)
    return result


def said_ended_early(console: Console, status: str, reason: str) -> None:
    if reason:
        console.print(f"[yellow]the run ended early ({status}):[/] {escape(reason)}")


class SwarmBar:
    """A swarm's banner, then a progress bar fed the swarm's figures (`show`) until closed."""

    def __init__(self, console: Console, request, scenario) -> None:
        self.plan = request.settings.plan(scenario)
        console.print(f"[bold]swarm[/] {escape(swarm_banner(request, scenario, self.plan).removeprefix('swarm '))}")
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(),
                                 TextColumn("{task.fields[figures]}"), console=console, transient=False)
        self.bar = self.progress.add_task("playing", total=self.plan.duration_s, figures="starting")

    def __enter__(self) -> "SwarmBar":
        self.progress.start()
        return self

    def __exit__(self, *_) -> None:
        self.progress.stop()

    def show(self, now: SwarmStatus) -> None:
        paid = now.paid_fen
        self.progress.update(self.bar, completed=min(now.elapsed_s, self.plan.duration_s), figures=(
            f"{now.active_users} users, {now.rps:.0f} req/s, {now.requests:,} requests, {now.failures:,} failed"
            + (f", paid {paid / 100:,.2f} yuan" if paid is not None else "")))


def swarm_banner(request, scenario, plan) -> str:
    """The swarm's plan in one line: window, time, scale, target, faults, workers."""
    faults, host = request.faults, request.host
    return (f"swarm {scenario.name}: window {plan.window_name} "
            f"({plan.window.duration:g} campaign s) in {plan.duration_s:g} s (x{plan.compress:g}), "
            f"1:{plan.scale:g}{f', at most {plan.max_slots} slots' if request.settings.users else ''}, "
            f"{'target ' + host if host else 'reference backend'}"
            f"{' with ' + ', '.join(faults) if faults else ''}, "
            f"{request.workers or 'no'} workers")


def swarm_plan_lines(settings, plan) -> list[str]:
    """A dry run's lines beyond the banner: the steps of a step load, the live incidents."""
    lines = []
    if plan.steps:
        lines.append(f"step load: {', '.join(f'{n:,}' for n in plan.steps)} participants playing, "
                     f"{plan.step_s:g} s each, in real time at 1:1")
    r = settings.rehearsal
    incidents = []
    if r.ban_at is not None:
        incidents.append(f"a domain ban {r.ban_at:g} campaign s into the window")
    if r.race_at is not None:
        incidents.append(f"a budget race at {r.race_at:g} s with {r.racers} racers")
    incidents += [text for text, wanted in (("early birds in the preheat", r.preheat),
                                            ("flagged numbers at the start", r.flagged)) if wanted]
    if incidents:
        lines.append(f"incidents: {', '.join(incidents)}")
    return lines


def print_dry_run(lines: list[str]) -> None:
    """A dry run's plan on stdout, after a line saying nothing happened."""
    click.echo("dry run: every input checked; nothing was started, sent or written")
    for line in lines:
        click.echo(line)


def summary_tables(run, status: str) -> list:
    """The end-of-run tables: per persona, per action, headline figures."""
    from rehearse.swarm.summary import summarise

    if run.requests.empty:
        return [f"no requests were recorded ({status}); see the logs in the run folder"]
    s = summarise(run)
    personas = Table(title="Personas")
    for column in ("persona", "participants", "requests", "ok", "refused", "broken", "paid (yuan)"):
        personas.add_column(column, justify="left" if column == "persona" else "right", no_wrap=True)
    for row in s.personas.itertuples():
        personas.add_row(str(row.Index), f"{row.participants:,}", f"{row.requests:,}", f"{row.ok:,}",
                         f"{row.refused:,}", f"{row.broken:,}", f"{row.paid_fen / 100:,.2f}")
    actions = Table(title="Actions")
    for column in ("action", "requests", "refused", "broken", "p50 ms", "p95 ms"):
        actions.add_column(column, justify="left" if column == "action" else "right", no_wrap=True)
    for row in s.actions.itertuples():
        actions.add_row(str(row.Index), f"{row.requests:,}", f"{row.refused:,}", f"{row.broken:,}",
                        f"{row.p50_ms:.1f}", f"{row.p95_ms:.1f}")
    headline = (f"paid {s.paid_fen / 100:,.2f} yuan, fraud's share {s.fraud_share:.1%}; "
                f"{s.invitees} invitees arrived through share links; {s.bans} domain bans, "
                f"{s.lost_visits} visits lost to them")
    return [personas, actions, headline]
