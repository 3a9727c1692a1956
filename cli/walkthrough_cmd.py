"""`rehearse walkthrough`: each persona's journey against the backend, told step by step."""

from __future__ import annotations

import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from rehearse.cli.backend_cmd import campaign_time
from rehearse.cli.options import (DRY_RUN, FORCE, OVERRIDES, SCENARIO_ARGUMENT, SEED, OutDir, applied, force_only,
                                  host_only, target_options)
from rehearse.reference_backend.faults import check_faults
from rehearse.scenarios import UsageError, load_scenario

PERSONA_CHOICES = ("normal", "sharer", "fraud_script", "preheat_browser", "all")
LONG_WAIT_S = 300.0
"""Waits at least this long get a line of their own ("… waits 3 h")."""


def default_run_dir() -> Path:
    return Path("runs") / f"walkthrough-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"


@click.command()
@SCENARIO_ARGUMENT
@click.option("--persona", "personas", multiple=True, metavar="NAME",
              help=f"Whose journey to walk through: {', '.join(PERSONA_CHOICES)} (repeatable). [default: all]")
@click.option("--at", "at", default="launch", show_default=True,
              help="Campaign time the walkthrough starts at: launch, preheat, a traffic window "
                   "(evening_peak), launch+2h, -2d ...")
@click.option("--step", "stepwise", is_flag=True, help="Wait for Enter after each step.")
@click.option("--out", "run_dir", type=OutDir(),
              help="Run folder for walkthrough.md and the observations. [default: runs/walkthrough-TIME]")
@OVERRIDES
@click.option("--seed", type=SEED, help="Seed for identities and journeys. [default: the scenario's]")
@applied(target_options())
@FORCE
@DRY_RUN
@click.pass_context
def walkthrough(ctx: click.Context, scenario_path: Path | None, personas: tuple[str, ...], host: str | None, at: str,
                stepwise: bool, run_dir: Path | None, faults: tuple[str, ...], overrides: tuple[str, ...],
                seed: int | None, ops_token: str | None, allow_remote: bool, force: bool, dry_run: bool) -> None:
    """Walk each persona through the campaign against the backend, step by step.

    One participant per persona (normal, sharer with the friends its link brings, fraud script
    on each kind of number its operator uses, preheat browser) plays its journey over HTTP,
    all the way through the funnel. Every step is told in plain language: the campaign time,
    what the participant did, what the backend answered, and whether that is what the
    campaign's rules say (preheat closed, envelopes locked until their tasks, one envelope
    each, the grand round after all envelopes, the invite reward, blocked number segments and
    the blacklist). A backend that breaks a rule is flagged with the rule's name; the command
    exits 1 on any mismatch. The walkthrough is also written as Markdown (walkthrough.md) in
    the run folder, beside the observations.

    \b
    Examples:
      rehearse walkthrough                               # every persona, at launch
      rehearse walkthrough --persona normal --step       # one journey, Enter for each step
      rehearse walkthrough --at preheat                  # what happens before launch
      rehearse walkthrough --fault double-pay            # is a double tap paid twice?
      rehearse walkthrough --host http://127.0.0.1:8700 --ops-token TOKEN
      rehearse walkthrough --at preheat --dry-run        # the plan, nothing started
    """
    from rehearse.walkthrough.cast import walkthrough_personas
    from rehearse.walkthrough.run import WalkthroughRequest, run_walkthrough

    host_only(ctx, host)
    force_only(ctx, run_dir)
    scenario = load_scenario(scenario_path, overrides)
    chosen = _personas(personas, walkthrough_personas(scenario))
    check_given_target(scenario, host, faults, ops_token, allow_remote, dry_run)
    if dry_run:
        from rehearse.cli.swarm_cmd import print_dry_run

        start = campaign_time(at, scenario)
        print_dry_run([f"walkthrough {scenario.name}: {', '.join(chosen)}, one journey each, from campaign time "
                       f"{start:+g} s ({scenario.campaign.phases.phase_at(start)})",
                       f"target: {host or 'the reference backend'}"
                       + (f" with {', '.join(sorted(check_faults(faults)))}" if faults else ""),
                       f"run folder: {run_dir or default_run_dir()}"])
        return
    request = WalkthroughRequest(
        scenario=scenario, personas=chosen, at=campaign_time(at, scenario), run_dir=run_dir or default_run_dir(),
        seed=scenario.seed if seed is None else seed, host=host, ops_token=ops_token,
        allow_remote=allow_remote, faults=check_faults(faults), force=force,
        command=shlex.join(["rehearse", "walkthrough", *masked(sys.argv[2:])]) if sys.argv[1:2] == ["walkthrough"] else "")
    console = Console(highlight=False, emoji=False)
    narrator = _Narrator(console, scenario, stepwise)
    try:
        result = run_walkthrough(request, on_group=narrator.group, on_step=narrator.step,
                                 on_wait=narrator.wait, on_start=narrator.start)
    except KeyboardInterrupt:
        console.print(f"\n[yellow]Interrupted.[/] What was seen so far: {request.run_dir / 'walkthrough.md'}")
        raise
    _summary(console, result)
    raise SystemExit(1 if result.mismatches else 0)


def check_given_target(scenario, host: str | None, faults: tuple[str, ...], ops_token: str | None,
                       allow_remote: bool, dry_run: bool) -> None:
    """What the walkthrough (and target check) refuse about a given target before anything
    starts, in the order the walkthrough checks them: faults with it, a host load may not go
    to, one that does not answer (not for a dry run: it sends nothing), a missing token the
    contract needs."""
    from rehearse.client.safety import check_host, check_reachable
    from rehearse.walkthrough.run import _needs_token

    if host is None:
        return
    if faults:
        raise UsageError("--fault plants defects in the auto-started reference backend; drop it with --host")
    check_host(host, allow_remote, scenario.target.allow_remote_hosts)
    if not dry_run:
        check_reachable(host)
    if not ops_token and _needs_token(scenario):
        raise UsageError(f"--host {host}: pass the backend's --ops-token (or REHEARSE_OPS_TOKEN): the contract "
                         "moves the backend's clock through an operation that sends it "
                         "(target.operations.set_clock)")


SECRET_FLAGS = ("--ops-token", "--otp-secret")


def masked(argv: list[str]) -> list[str]:
    """A command line fit to echo: the values of secret flags replaced by ***."""
    out: list[str] = []
    hide_next = False
    for word in argv:
        if hide_next:
            out.append("***")
            hide_next = False
        elif word in SECRET_FLAGS:
            out.append(word)
            hide_next = True
        elif word.startswith(tuple(f"{flag}=" for flag in SECRET_FLAGS)):
            out.append(word.split("=", 1)[0] + "=***")
        else:
            out.append(word)
    return out


def _personas(given: tuple[str, ...], known: tuple[str, ...]) -> list[str]:
    for name in (n for n in given if n != "all"):  # each name checked, even beside all
        if name == "preheat_browser" and name not in known:
            raise UsageError(f"--persona {name}: the campaign has no preheat (campaign.phases.preheat_start is "
                             f"left out); choose from {', '.join(known)} or all")
        if name not in known:
            raise UsageError(f"--persona {name}: no such persona; choose from {', '.join(PERSONA_CHOICES)}")
    if not given or "all" in given:
        return list(known)
    return list(dict.fromkeys(given))


class _Narrator:
    """Prints the walkthrough as it happens."""

    def __init__(self, console: Console, scenario, stepwise: bool) -> None:
        self.console = console
        self.scenario = scenario
        self.stepwise = stepwise

    def start(self, header: list[str]) -> None:
        for text in header:
            self.console.print(text, markup=False)

    def group(self, group) -> None:
        from rehearse.walkthrough.narrate import introduce

        self.console.rule(f"[bold]{group.title}")
        self.console.print(introduce(group.participants[0], self.scenario), markup=False)

    def wait(self, who, t: float, seconds: float) -> None:
        from rehearse.walkthrough.narrate import clock, span

        if seconds >= LONG_WAIT_S:
            self.console.print(Text(f"{clock(self.scenario, t)}  {who.label} waits {span(seconds)}", "dim"))

    def step(self, report) -> None:
        from rehearse.walkthrough.narrate import line

        item = line(report, self.scenario)
        style = "red" if report.mismatch is not None else "green"
        self.console.print(Text.assemble((item.time, "dim"), "  ", (item.who, "bold"), " ", item.did))
        self.console.print(Text.assemble("    backend: ", item.answered))
        self.console.print(Text.assemble("    ", (item.judged, style)))
        if self.stepwise:
            self.pause()

    def pause(self) -> None:
        """Wait for Enter; once stdin has ended (closed, or a pipe run dry) wait no more."""
        try:
            self.console.input("[dim]Enter: next step[/] ")
        except EOFError:
            self.stepwise = False


def _summary(console: Console, result) -> None:
    from rehearse.walkthrough.markdown import mismatches_by_rule, summary_rows

    table = Table(title="Walkthrough", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("participant", "left"), ("steps", "right"), ("as the rules say", "right"), ("mismatches", "right"),
        ("paid", "right"))
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for row in summary_rows(result.played):
        table.add_row(*(str(x) for x in row), style="red" if row[3] else None)
    console.print(table)
    for rule, reports in mismatches_by_rule(result.played).items():
        console.print(Text.assemble((f"✗ {rule.id}", "red"), f": {len(reports)} step(s) break the rule: {rule.text}"))
    verdict = "[red]FAIL[/]" if result.mismatches else "[green]PASS[/]"
    console.print(f"{verdict}: {result.mismatches} mismatch(es). Written: {result.markdown}")
