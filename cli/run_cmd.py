"""`rehearse run` and `rehearse ci`: simulate, swarm, check and report in one command."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console

from rehearse.cli.check_cmd import ALLOW_INTERRUPTED, ALLOW_UNVERIFIED
from rehearse.cli.options import (DRY_RUN, FORCE, OVERRIDES, SCENARIO_ARGUMENT, SEED, USERS_MAX, OutDir, WallTime, applied,
                                  host_only, only_with, target_options)
from rehearse.reference_backend.faults import check_faults
from rehearse.scenarios import Scenario, load_scenario
from rehearse.swarm.settings import MIN_STEP_S

TARGET_WAIT_S = 60.0  # how long a given target may take to answer again after the peak phase
FAILOVER_LEAD_S = 10.0  # the real-time failover phase bans this long after its start (the prober has links)
FAILOVER_MARGIN_S = 15.0  # and plays this long past the promise: links after the last banned one show it gone
FAILOVER_MAX_S = 900.0  # a promise longer than this (with lead and margin) is not played in real time


@dataclass(frozen=True)
class MainJob:
    """What the main job will play, every input checked: the scenario, the peak phase's step
    load (None: skipped) and the launch window's swarm with its incidents."""

    scenario: Scenario
    steps: tuple[int, ...]
    peak: object | None  # SwarmSettings of the peak phase
    live: object  # SwarmRequest of the launch window
    failover: object | None = None  # SwarmRequest of the ban in real time, for a target on its own clock
    failover_skipped: str = ""  # why a target on its own clock cannot get one (a promise too long to play)


def main_job(scenario_path: Path | None, overrides: tuple[str, ...], out: Path, seed: int | None,
             duration: float, users: int | None, host: str | None, faults: tuple[str, ...],
             peak: str | None = None, peak_step_s: float = 15.0, ops_token: str | None = None,
             allow_remote: bool = False, force: bool = False, target_wait_s: float = TARGET_WAIT_S) -> MainJob:
    """The main job's phases as settings, refused here when any input is bad (before anything
    runs, and for a dry run): `out` must hold no run (or `force` it to be replaced). A given
    target that does not answer after the peak phase is asked again for `target_wait_s`."""
    from rehearse.observations.claim import check_unused
    from rehearse.swarm.contract import follows_our_clock, load_contract
    from rehearse.swarm.orchestrate import SwarmRequest, check_target
    from rehearse.swarm.settings import RehearsalPlan, SwarmSettings, parse_steps, peak_steps

    check_unused(out, force)
    scenario = load_scenario(scenario_path, overrides)
    job = uuid.uuid4().hex[:12]  # the phases' runs name their rehearsal: one target, one budget across them
    steps = () if peak == "0" else (parse_steps(peak, "--peak-steps")
                                    or peak_steps(scenario.gates.peak.target_active_users))
    peak_settings = SwarmSettings(scenario_path=scenario_path, overrides=overrides, scale=1.0, steps=steps,
                                  step_s=peak_step_s, run_dir=out / "peak", seed=seed, ops_token=ops_token,
                                  extra={"faults": list(faults), "phase": "peak", "job": job}, lane=(0, LANES),
                                  step_flags=("--peak-steps", "--peak-step-duration")) if steps else None
    # the launch's incidents, live: early birds in the preheat, a ban a third into the window, a
    # budget race at two thirds
    window = scenario.traffic.windows[scenario.gates.peak.window]
    # a target on its own clock times its failover in real seconds: the compressed window cannot
    # show it, so its ban is played in real time after the window (the failover phase)
    own_clock = host is not None and not follows_our_clock(load_contract(scenario.target))
    rehearsal = RehearsalPlan(ban_at=window.duration / 3 if scenario.links is not None and not own_clock else None,
                              race_at=window.duration * 2 / 3,
                              preheat=scenario.campaign.phases.has_preheat,  # early birds need a preheat
                              flagged=True)  # virtual and blacklisted numbers try to log in
    # each phase plays participants of its own (phones, addresses, ids and {step.id}s): a target
    # that keeps idempotency keys or one purchase per participant is judged on new traffic
    settings = SwarmSettings(scenario_path=scenario_path, overrides=overrides, users=users, duration_s=duration,
                             run_dir=out / "live", seed=seed, rehearsal=rehearsal, lane=(1, LANES),
                             extra={"faults": list(faults), "phase": "live", "job": job},
                             ops_token=ops_token)
    request = SwarmRequest(settings=settings, host=host, faults=faults, allow_remote=allow_remote, force=force,
                           wait_s=target_wait_s if peak_settings is not None else 0.0)
    settings.plan(scenario)  # bad input is refused before anything runs
    if peak_settings is not None:
        peak_settings.plan(scenario)
    check_target(request, scenario)
    failover, skipped = (_failover_phase(scenario, scenario_path, overrides, out, seed, users, host, faults,
                                         ops_token, allow_remote, force, target_wait_s, job) if own_clock
                         else (None, ""))
    return MainJob(scenario=scenario, steps=steps, peak=peak_settings, live=request, failover=failover,
                   failover_skipped=skipped)


def _with_money_left(request, runs, scenario: Scenario):
    """The window's swarm told what the given target's pools hold after the phases before it, by
    the harness's reckoning (a race the target cannot cut is sized to meet their end)."""
    from dataclasses import replace

    from rehearse.reports.carried import money_after

    left = money_after(runs, scenario)
    if left is None:
        return request
    rehearsal = replace(request.settings.rehearsal, money_left=tuple(sorted(left.pools_left.items())))
    return replace(request, settings=replace(request.settings, rehearsal=rehearsal))


LANES = 3  # the phases against one target that play participants: the peak, the window, the failover


def _failover_phase(scenario: Scenario, scenario_path: Path | None, overrides: tuple[str, ...], out: Path,
                    seed: int | None, users: int | None, host: str | None, faults: tuple[str, ...],
                    ops_token: str | None, allow_remote: bool, force: bool, target_wait_s: float,
                    job: str) -> tuple[object | None, str]:
    """The ban again, in real time at the window's scale, for a target that keeps its own clock
    (played only then: the compressed window cannot show a failover timed in real seconds): a
    ban FAILOVER_LEAD_S in, played for the promise plus FAILOVER_MARGIN_S. None, and why, when
    the campaign has no share links or the promise is too long to play."""
    from rehearse.swarm.orchestrate import SwarmRequest
    from rehearse.swarm.settings import RehearsalPlan, SwarmSettings

    if scenario.links is None:
        return None, ""
    window = scenario.traffic.windows[scenario.gates.peak.window]
    wanted = FAILOVER_LEAD_S + scenario.gates.failover.max_seconds + FAILOVER_MARGIN_S
    if wanted > FAILOVER_MAX_S:
        return None, (f"the failover promise ({scenario.gates.failover.max_seconds:g} s) is too long to play in "
                      f"real time here (at most {FAILOVER_MAX_S - FAILOVER_LEAD_S - FAILOVER_MARGIN_S:g} s)")
    if wanted > window.duration:  # never cut short: a phase shorter than the promise proves nothing
        return None, (f"the {scenario.gates.peak.window} window ({window.duration:g} s) is shorter than the failover "
                      f"promise and {FAILOVER_LEAD_S + FAILOVER_MARGIN_S:g} s around it ({wanted:g} s)")
    settings = SwarmSettings(scenario_path=scenario_path, overrides=overrides, users=users, compress=1.0,
                             duration_s=wanted, run_dir=out / "failover", seed=seed,
                             rehearsal=RehearsalPlan(ban_at=FAILOVER_LEAD_S), lane=(2, LANES), ops_token=ops_token,
                             extra={"faults": list(faults), "phase": "failover", "job": job})
    settings.plan(scenario)
    return SwarmRequest(settings=settings, host=host, faults=faults, allow_remote=allow_remote, force=force,
                        wait_s=target_wait_s if host else 0.0), ""


def rehearse_all(scenario_path: Path | None, overrides: tuple[str, ...], out: Path, seed: int | None,
                 duration: float, users: int | None, host: str | None, faults: tuple[str, ...],
                 console: Console, progress: bool, allow_unverified: bool = False,
                 allow_interrupted: bool = False, peak: str | None = None, peak_step_s: float = 15.0,
                 ops_token: str | None = None, allow_remote: bool = False, force: bool = False,
                 target_wait_s: float = TARGET_WAIT_S):
    """The main job; returns the report folder and the judgement (`reports.judge.Judgement`).

    Four phases: the simulator over the whole campaign; the peak at real concurrency (a step
    load in real time at 1:1 up to the peak gate's target, `peak` overriding the steps, "0" for
    none); the launch window compressed with its incidents (early birds, a ban, a budget race);
    the gates and the report."""
    from rehearse.observations.claim import claimed
    from rehearse.swarm.safety import check_reachable

    job = main_job(scenario_path, overrides, out, seed, duration, users, host, faults, peak, peak_step_s,
                   ops_token, allow_remote, force, target_wait_s)
    if host:
        check_reachable(host)  # a target that does not answer is refused before the simulation
    with claimed(out, force):  # one job, one folder: its phases in subfolders of their own
        return _phases(job, scenario_path, overrides, out, seed, duration, host, faults, console, progress,
                       allow_unverified, allow_interrupted, peak_step_s, allow_remote)


def _phases(job: MainJob, scenario_path: Path | None, overrides: tuple[str, ...], out: Path, seed: int | None,
            duration: float, host: str | None, faults: tuple[str, ...], console: Console, progress: bool,
            allow_unverified: bool, allow_interrupted: bool, peak_step_s: float, allow_remote: bool):
    from rehearse.cli.swarm_cmd import stop_if_harness_failed, stop_if_signalled, swarm_progress
    from rehearse.observations import load_run
    from rehearse.reports.bundle import write_report
    from rehearse.reports.gates import silent_after
    from rehearse.reports.judge import judge
    from rehearse.simulator.run import RunRequest, run_replicas
    from rehearse.swarm.orchestrate import SwarmRequest, run_swarm
    from rehearse.swarm.safety import TargetSilent

    scenario, steps, peak_settings, request = job.scenario, job.steps, job.peak, job.live
    target = "the reference backend" if not host else host
    console.print(f"1/4 simulating the whole campaign ({scenario.name}) ...")
    run_replicas(RunRequest(scenario_path, overrides, seed=seed, replicas=1, jobs=1, out=out / "simulated"))
    runs = [("simulated", load_run(out / "simulated"))]

    def play(swarm_request) -> None:
        if progress:
            result = swarm_progress(swarm_request, scenario, console)
        else:
            result = run_swarm(swarm_request, scenario=scenario)
            if result.reason:
                console.print(f"the swarm ended early ({result.status}): {result.reason}")
        stop_if_signalled(result)
        stop_if_harness_failed(result)

    if peak_settings is not None:
        console.print(f"2/4 the peak at real concurrency against {target}: "
                      f"{', '.join(f'{n:,}' for n in steps)} participants playing, {peak_step_s:g} s each, "
                      "in real time at 1:1 ...")
        play(SwarmRequest(settings=peak_settings, host=host, faults=faults, allow_remote=allow_remote))
        runs.append(("peak", load_run(out / "peak")))
        request = _with_money_left(request, runs[1:], scenario)
    else:
        console.print("2/4 the peak at real concurrency: skipped (--peak-steps 0)")
    ban = ("a domain ban a third of the way in" if request.settings.rehearsal.ban_at is not None
           else "no ban (the campaign issues no share links)" if scenario.links is None
           else "no ban (the target keeps its own clock: its ban is played in real time)")
    console.print(f"3/4 the launch window against {target} for {duration:g} s, with {ban} and a budget race at "
                  "two thirds ...")
    findings = []
    try:
        play(request)
        runs.append(("live", load_run(out / "live")))
    except TargetSilent as silent:  # still down after the peak: a finding, and the peak is judged
        console.print(f"  not played: {silent} after the peak phase")
        findings.append(silent_after("peak", silent.waited_s, silent.said))
    if job.failover_skipped:
        console.print(f"  the target keeps its own clock, so its failover is not played: {job.failover_skipped}")
    if job.failover is not None and "live" in dict(runs):
        played = job.failover.settings.duration_s
        console.print(f"3/4 (continued) the target keeps its own clock: its ban in real time, {played:g} s (the "
                      f"failover promise, {scenario.gates.failover.max_seconds:g} s, and {played - scenario.gates.failover.max_seconds:g} s "
                      "around it) ...")
        try:
            play(job.failover)
            runs.append(("failover", load_run(out / "failover")))
        except TargetSilent as silent:
            console.print(f"  not played: {silent} after the launch window")
            findings.append(silent_after("live", silent.waited_s, silent.said))
    console.print("4/4 checking the gates and building the report ...")
    judgement = judge(runs, scenario, allow_unverified=allow_unverified, allow_interrupted=allow_interrupted,
                      findings=findings)
    report_dir = out / "report"
    write_report(report_dir, runs, judgement)
    return report_dir, judgement


def print_answers(console: Console, judgement) -> None:
    """The answers first: peak, failover, budget, fraud."""
    from rehearse.reports.answers import launch_answers

    for answer in launch_answers(judgement.verdicts):
        console.print(answer.line, markup=False, highlight=False)
    print_steps(console, judgement)
    print_agreements(console, judgement)


def print_steps(console: Console, judgement) -> None:
    """Each step load's steps: participants playing, requests/s, worst p95, held or not."""
    from rich.table import Table

    from rehearse.reports.steps import STEP_HEADER, step_rows

    for label, steps in judgement.steps:
        table = Table(*STEP_HEADER, title=f"{label}: the peak at real concurrency (real time, 1:1)",
                      title_justify="left")
        for step, cells in zip(steps, step_rows(list(steps))):
            table.add_row(*cells, style={"held": "", "broke": "bold red"}.get(step.status, "yellow"))
        console.print(table)


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
    click.option("--swarm-duration", "duration", type=WallTime(), default="30s", show_default=True,
                 help="Wall time of the launch window's swarm (it plays the peak gate's window in it)."),
    click.option("--users", type=click.IntRange(1, USERS_MAX), help="Locust users (slots) at most in the launch "
                 "window's swarm. [default: as many as its arrivals need]"),
    click.option("--peak-steps", "peak", metavar="N,N,...", help="Participants playing in each step of the peak "
                 "phase (real time, 1:1); 0 skips it. [default: the peak gate's target, halved three times: "
                 "1000,2000,4000,8000 for the bundled scenario]"),
    click.option("--peak-step-duration", "peak_step", type=WallTime(min_s=MIN_STEP_S), default="15s",
                 show_default=True, help="Wall time of each step of the peak phase."),
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


def _checked_job(ctx: click.Context, kind: str) -> tuple[Path, MainJob]:
    """The command's inputs checked together (flags its combination would ignore refused); the
    run folder and the main job."""
    p = ctx.params
    host_only(ctx, p["host"])
    only_with(ctx, ["peak_step", "target_wait"], p["peak"] != "0", "with a peak phase",
              "give --peak-steps N,N,... (not 0)")
    only_with(ctx, ["target_wait"], p["host"] is not None, "with --host (the reference backend starts afresh "
              "for each phase)", "add --host URL")
    only_with(ctx, ["force"], p["out"] is not None, "with --out (a default run folder is always new)",
              "add --out DIR")
    out = p["out"] or _default_out(kind)
    job = main_job(p["scenario_path"], p["overrides"], out, p["seed"], p["duration"], p["users"], p["host"],
                   tuple(check_faults(p["faults"])), p["peak"], p["peak_step"], p["ops_token"], p["allow_remote"],
                   p["force"], p["target_wait"])
    return out, job


def print_plan(out: Path, job: MainJob) -> None:
    """A dry run of the main job: its four phases, what each plays, where it writes."""
    from rehearse.cli.swarm_cmd import print_dry_run

    scenario, live = job.scenario, job.live
    plan = live.settings.plan(scenario)
    target = live.host or "the reference backend" + (f" with {', '.join(live.faults)}" if live.faults else "")
    peak = (f"2/4 the peak at real concurrency against {target}: {', '.join(f'{n:,}' for n in job.steps)} "
            f"participants playing, {job.peak.step_s:g} s each, in real time at 1:1 -> {out / 'peak'}"
            if job.peak is not None else "2/4 the peak at real concurrency: skipped (--peak-steps 0)")
    r = live.settings.rehearsal
    print_dry_run([
        f"1/4 simulate the whole campaign ({scenario.name}, {scenario.traffic.participants_total:,} participants) "
        f"-> {out / 'simulated'}",
        peak,
        f"3/4 the launch window {plan.window_name} ({plan.window.duration:g} campaign s) against {target} in "
        f"{plan.duration_s:g} s (x{plan.compress:g}, 1:{plan.scale:g}): "
        + (f"a domain ban at {r.ban_at:g} s, " if r.ban_at is not None else
           "no ban (the campaign issues no share links), " if scenario.links is None else
           "no ban (the target keeps its own clock: its ban is played in real time), ")
        + f"a budget race at {r.race_at:g} s{', early birds in the preheat' if r.preheat else ''}, flagged numbers "
        f"-> {out / 'live'}",
        *([f"    for a target that keeps its own clock (no set_clock): its ban in real time, "
           f"{job.failover.settings.duration_s:g} s -> {out / 'failover'}"] if job.failover is not None else
          [f"    for a target that keeps its own clock: no real-time failover ({job.failover_skipped})"]
          if job.failover_skipped else []),
        f"4/4 check the gates and write the report -> {out / 'report'}",
    ])


@click.command()
@with_options
@click.pass_context
def run(ctx, scenario_path, out, seed, duration, users, peak, peak_step, target_wait, host, faults, ops_token,
        allow_remote, overrides, allow_unverified, allow_interrupted, force, dry_run) -> None:
    """The whole rehearsal: simulate the campaign, play the peak at real concurrency and the
    launch window with its incidents against the target, check the gates, report.

    Prints the verdict (a check that fails, or one the scenario requires that the live run
    did not verify, makes it FAIL) and where the report is. Exits 0 whatever the gates say
    (use `rehearse ci` for their exit code). --dry-run prints the four phases and starts none.
    """
    out, job = _checked_job(ctx, "run")
    if dry_run:
        print_plan(out, job)
        return
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    report_dir, judgement = rehearse_all(scenario_path, overrides, out, seed, duration,
                                         users, host, tuple(check_faults(faults)), console, True, allow_unverified,
                                         allow_interrupted, peak, peak_step, ops_token, allow_remote, force,
                                         target_wait)
    print_answers(console, judgement)
    console.print(f"{judgement.tally.headline}\nreport: {report_dir / 'report.html'}")


@click.command()
@with_options
@click.pass_context
def ci(ctx, scenario_path, out, seed, duration, users, peak, peak_step, target_wait, host, faults, ops_token,
       allow_remote, overrides, allow_unverified, allow_interrupted, force, dry_run) -> None:
    """`rehearse run` for CI: plain output, the Markdown summary appended to $GITHUB_STEP_SUMMARY
    when set, and the gates' exit code (0 all pass; 1 a check fails, a required one is not
    verified or the run did not finish; 2 bad input). --dry-run prints the four phases and
    starts none."""
    out, job = _checked_job(ctx, "ci")
    if dry_run:
        print_plan(out, job)
        return
    console = Console(stderr=True, highlight=False, soft_wrap=True, force_terminal=False, no_color=True)
    report_dir, judgement = rehearse_all(scenario_path, overrides, out, seed, duration,
                                         users, host, tuple(check_faults(faults)), console, False, allow_unverified,
                                         allow_interrupted, peak, peak_step, ops_token, allow_remote, force,
                                         target_wait)
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
