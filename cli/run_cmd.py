"""`rehearse run` and `rehearse ci`: simulate, swarm, check and report in one command."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from rehearse.cli.check_cmd import ALLOW_INTERRUPTED, ALLOW_UNVERIFIED, print_verdict
from rehearse.cli.options import (DRY_RUN, FORCE, OVERRIDES, SCENARIO_ARGUMENT, SEED, USERS_MAX, WORKERS_MAX, OutDir,
                                  WallTime, applied, host_only, only_with, target_options)
from rehearse.rehearsal.spec import PEAK_STEP_S, TARGET_WAIT_S, WINDOW_S
from rehearse.swarm.settings import MIN_STEP_S

if TYPE_CHECKING:
    from rehearse.cli.swarm_cmd import SwarmBar


class ConsoleView:
    """The rehearsal's events on the console: each phase's line, a swarm's progress bar (or, plain,
    only why it ended early), what was not played and why."""

    def __init__(self, console: Console, rehearsal, bars: bool) -> None:
        self.console, self.rehearsal, self.bars = console, rehearsal, bars
        self.bar: SwarmBar | None = None

    def __call__(self, event) -> None:
        from rehearse.rehearsal import Judging, PhaseEnded, PhaseStarted, SwarmProgress

        if isinstance(event, PhaseStarted):
            if event.phase.name == "live" and "peak" in self.rehearsal.skipped:
                self.console.print("2/4 the peak at real concurrency: skipped (--peak-steps 0)")
            self.console.print(f"{event.phase.title} ...")
        elif isinstance(event, SwarmProgress) and self.bars:
            if self.bar is None:  # drawn once the swarm runs (not while a silent target is asked again)
                from rehearse.cli.swarm_cmd import SwarmBar

                self.bar = SwarmBar(self.console, event.phase.request, self.rehearsal.scenario).__enter__()
            self.bar.show(event.figures)
        elif isinstance(event, PhaseEnded):
            self._ended(event.phase, event.record)
        elif isinstance(event, Judging):
            self.console.print("4/4 checking the gates and building the report ...")

    def _ended(self, phase, record) -> None:
        from rehearse.cli.swarm_cmd import said_ended_early
        from rehearse.rehearsal import NOT_PLAYED, STOPPED

        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
        if record.run_status and record.reason:  # its swarm ended early (a stop: the error follows)
            if self.bars:
                said_ended_early(self.console, record.run_status, record.reason)
            else:
                self.console.print(f"the swarm ended early ({record.run_status}): {record.reason}")
        elif record.status == NOT_PLAYED and record.started_at:  # it tried: the target was silent
            self.console.print(f"  not played: {record.reason}")
        if phase.name == "live" and "failover" in self.rehearsal.skipped and record.status != STOPPED:
            self.console.print("  the target keeps its own clock, so its failover is not played: "
                               f"{self.rehearsal.skipped['failover']}")


def print_answers(console: Console, judgement) -> None:
    """The answers first: peak, failover, budget, fraud."""
    from rehearse.judging.answers import launch_answers

    for answer in launch_answers(judgement.verdicts):
        console.print(answer.line, markup=False, highlight=False)
    print_steps(console, judgement)
    print_agreements(console, judgement)


def print_steps(console: Console, judgement) -> None:
    """Each step load's steps: participants playing, requests/s, worst p95, held or not."""
    from rich.table import Table

    from rehearse.judging.steps import STEP_HEADER, step_rows

    for label, steps in judgement.steps:
        table = Table(*STEP_HEADER, title=f"{label}: the peak at real concurrency (real time, 1:1)",
                      title_justify="left")
        for step, cells in zip(steps, step_rows(list(steps))):
            table.add_row(*cells, style={"held": "", "broke": "bold red"}.get(step.status, "yellow"))
        console.print(table)


def print_agreements(console: Console, judgement) -> None:
    """Each live run's load beside the simulator's: what differs, or that it agrees."""
    from rich.table import Table

    from rehearse.judging.agreement import AGREEMENT_HEADER, agreement_rows, agreement_title

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
    click.option("--swarm-duration", "duration", type=WallTime(), default=f"{WINDOW_S:g}s", show_default=True,
                 help="Wall time of the launch window's swarm (it plays the peak gate's window in it)."),
    click.option("--users", type=click.IntRange(1, USERS_MAX), help="Locust users (slots) at most in the launch "
                 "window's swarm. [default: as many as its arrivals need]"),
    click.option("--peak-steps", "peak", metavar="N,N,...", help="Participants playing in each step of the peak "
                 "phase (real time, 1:1); 0 skips it. [default: the peak gate's target, halved three times: "
                 "1000,2000,4000,8000 for the bundled scenario]"),
    click.option("--peak-step-duration", "peak_step", type=WallTime(min_s=MIN_STEP_S), default=f"{PEAK_STEP_S:g}s",
                 show_default=True, help="Wall time of each step of the peak phase."),
    click.option("--peak-workers", "peak_workers", type=click.IntRange(0, WORKERS_MAX),
                 help="Locust worker processes that play the peak phase's load (0: one process does "
                      "everything). A step the load generator could not carry is not verified. [default: one "
                      "per core the target leaves free: a target on this machine keeps one; none on 2 cores]"),
    click.option("--target-wait", "target_wait", type=WallTime(), default=f"{TARGET_WAIT_S:g}s", show_default=True,
                 help="With --host and a peak phase: how long a target that stopped answering after the peak "
                      "may take to answer again before the launch window; past it, that is a finding (FAIL) "
                      "and the peak is judged."),
    *target_options(),
    OVERRIDES,
    ALLOW_UNVERIFIED,
    ALLOW_INTERRUPTED,
    FORCE,
    DRY_RUN,
]
with_options = applied(OPTIONS)


def _checked_rehearsal(ctx: click.Context, kind: str):
    """The command's inputs checked together (flags its combination would ignore refused): the
    rehearsal to play."""
    from rehearse.rehearsal import RehearsalInputs, build_rehearsal

    p = ctx.params
    host_only(ctx, p["host"])
    only_with(ctx, ["peak_step", "target_wait", "peak_workers"], p["peak"] != "0", "with a peak phase",
              "give --peak-steps N,N,... (not 0)")
    only_with(ctx, ["target_wait"], p["host"] is not None, "with --host (the reference backend starts afresh "
              "for each phase)", "add --host URL")
    only_with(ctx, ["force"], p["out"] is not None, "with --out (a default run folder is always new)",
              "add --out DIR")
    return build_rehearsal(RehearsalInputs(
        out=p["out"] or _default_out(kind), scenario_path=p["scenario_path"], overrides=p["overrides"],
        seed=p["seed"], duration_s=p["duration"], users=p["users"], host=p["host"],
        faults=p["faults"], peak_steps=p["peak"], peak_step_s=p["peak_step"], peak_workers=p["peak_workers"],
        ops_token=p["ops_token"], allow_remote=p["allow_remote"], force=p["force"], target_wait_s=p["target_wait"],
        allow_unverified=p["allow_unverified"], allow_interrupted=p["allow_interrupted"]))


def print_plan(rehearsal) -> None:
    """A dry run of the main job: its four phases, what each plays, where it writes."""
    from rehearse.cli.swarm_cmd import print_dry_run

    out, scenario = rehearsal.out, rehearsal.scenario
    live, peak, failover = (rehearsal.phase(name) for name in ("live", "peak", "failover"))
    request = live.request
    plan = request.settings.plan(scenario)
    target = request.host or "the reference backend" + (f" with {', '.join(request.faults)}" if request.faults else "")
    peak_line = (f"2/4 the peak at real concurrency against {target}: {', '.join(f'{n:,}' for n in rehearsal.steps)} "
                 f"participants playing, {peak.request.settings.step_s:g} s each, in real time at 1:1, "
                 + peak.title.rsplit("1:1, ", 1)[-1] + f" -> {out / 'peak'}"
                 if peak is not None else "2/4 the peak at real concurrency: skipped (--peak-steps 0)")
    r = request.settings.rehearsal
    print_dry_run([
        f"1/4 simulate the whole campaign ({scenario.name}, {scenario.traffic.participants_total:,} participants) "
        f"-> {out / 'simulated'}",
        peak_line,
        f"3/4 the launch window {plan.window_name} ({plan.window.duration:g} campaign s) against {target} in "
        f"{plan.duration_s:g} s (x{plan.compress:g}, 1:{plan.scale:g}): "
        + (f"a domain ban at {r.ban_at:g} s, " if r.ban_at is not None else
           "no ban (the campaign issues no share links), " if scenario.links is None else
           "no ban (the target keeps its own clock: its ban is played in real time), ")
        + f"a budget race at {r.race_at:g} s{', early birds in the preheat' if r.preheat else ''}, flagged numbers "
        f"-> {out / 'live'}",
        *([f"    for a target that keeps its own clock (no set_clock): its ban in real time, "
           f"{failover.request.settings.duration_s:g} s -> {out / 'failover'}"] if failover is not None else
          [f"    for a target that keeps its own clock: no real-time failover ({rehearsal.skipped['failover']})"]
          if "failover" in rehearsal.skipped else []),
        f"4/4 check the gates and write the report -> {out / 'report'}",
    ])


def _rehearse(ctx: click.Context, kind: str, plain: bool):
    """`run` and `ci` alike: the rehearsal played with its events on the console (`plain`: no
    colours, no progress bars), its answers and verdict printed; the journal."""
    from rehearse.rehearsal import run_rehearsal

    rehearsal = _checked_rehearsal(ctx, kind)
    if ctx.params["dry_run"]:
        print_plan(rehearsal)
        return None
    console = (Console(stderr=True, highlight=False, soft_wrap=True, force_terminal=False, no_color=True) if plain
               else Console(stderr=True, highlight=False, soft_wrap=True))
    journal = run_rehearsal(rehearsal, ConsoleView(console, rehearsal, bars=not plain))
    assert journal.judgement is not None and journal.report_dir is not None  # returned once judged and reported
    if plain:
        summary = (journal.report_dir / "summary.md").read_text(encoding="utf-8")
        target = os.environ.get("GITHUB_STEP_SUMMARY")
        if target:
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(summary + "\n")
        click.echo(summary)
    print_verdict(console, journal.judgement.tally)
    print_answers(console, journal.judgement)
    console.print(f"{journal.judgement.tally.word}: report: {journal.report_dir / 'report.html'}", markup=False)
    return journal


@click.command()
@with_options
@click.pass_context
def run(ctx, **_) -> None:
    """The whole rehearsal: simulate the campaign, play the peak at real concurrency and the
    launch window with its incidents against the target, check the gates, report.

    Prints the verdict and where the report is: FAIL when a check fails; INCONCLUSIVE when none
    failed but one the scenario requires was not verified against the target (e.g. the load
    generator could not carry the peak here), with what would make it conclusive; else PASS.
    Exits 0 whatever the gates say (use `rehearse ci` for their exit code). --dry-run prints
    the four phases and starts none.
    """
    _rehearse(ctx, "run", plain=False)


@click.command()
@with_options
@click.pass_context
def ci(ctx, **_) -> None:
    """`rehearse run` for CI: plain output, the Markdown summary appended to $GITHUB_STEP_SUMMARY
    when set, and the verdict's exit code: 0 PASS; 1 FAIL (a check failed); 3 INCONCLUSIVE (none
    failed, but a required check was not verified or a run did not finish: a weak load machine
    is not a failing backend); 2 bad input; 4 the harness could not finish a run. --dry-run
    prints the four phases and starts none."""
    journal = _rehearse(ctx, "ci", plain=True)
    if journal is not None and journal.judgement.exit_code:
        raise click.exceptions.Exit(journal.judgement.exit_code)
