"""`rehearse target check`: play one participant of each persona through the scenario's target
mapping and show every request, answer and judgement, with warnings for mapping mistakes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from rehearse.cli.backend_cmd import campaign_time
from rehearse.cli.options import DRY_RUN, OVERRIDES, SCENARIO_ARGUMENT, SEED, applied, host_only, target_options
from rehearse.cli.walkthrough_cmd import check_given_target
from rehearse.reference_backend.faults import check_faults
from rehearse.scenarios import load_scenario


@click.group()
def target() -> None:
    """The target mapping: how the harness talks to a campaign backend."""


@target.command()
@SCENARIO_ARGUMENT
@click.option("--at", "at", default="launch", show_default=True,
              help="Campaign time the participants play at: launch, preheat, a traffic window, launch+2h ...")
@OVERRIDES
@click.option("--seed", type=SEED, help="Seed for identities and journeys. [default: the scenario's]")
@click.option("--no-payouts", is_flag=True,
              help="Send no payout request (envelopes, draws, invite envelopes): spend nothing of the target's "
                   "pools or stock; their mapping is then not checked.")
@applied(target_options())
@DRY_RUN
@click.pass_context
def check(ctx: click.Context, scenario_path: Path | None, at: str, overrides: tuple[str, ...], seed: int | None,
          no_payouts: bool, host: str | None, faults: tuple[str, ...], ops_token: str | None, allow_remote: bool,
          dry_run: bool) -> None:
    """Check a target mapping against a live backend, request by request.

    One participant of each persona of the mix (a normal participant, a sharer and the friend its
    link brings, a script on each kind of number, a preheat browser) goes through the whole funnel
    over HTTP. For every request: what was sent and what came back (tokens, signatures and
    cookies masked), what the mapping extracted, and how the answer was judged (ok and the
    payout in fen, refused and why, or broken). Then warnings for what the mapping gets wrong:
    a payout action whose ok answer had no payout, a refusal with no reason, an answer judged
    broken, a session value no answer gave, a share with no link domain. Exit 0 with no
    warning, 1 with warnings, 2 on bad input. Run it while writing a mapping.

    It places real payout requests (orders on a sale): it says how many before it starts;
    --no-payouts sends none.

    \b
    Examples:
      rehearse target check                                   # the bundled scenario and backend
      rehearse target check my_campaign.yaml --host http://127.0.0.1:9000 --ops-token KEY
    """
    from rehearse.scenarios.rules import PAYOUT_ACTIONS
    from rehearse.walkthrough.cast import payouts_asked, walkthrough_personas
    from rehearse.walkthrough.run import WalkthroughRequest, run_walkthrough
    from rehearse.walkthrough.target_check import MappingCheck

    host_only(ctx, host)
    scenario = load_scenario(scenario_path, overrides)
    check_given_target(scenario, host, faults, ops_token, allow_remote, dry_run)
    start = campaign_time(at, scenario)
    planted = check_faults(faults)
    personas = list(walkthrough_personas(scenario))
    seed = scenario.seed if seed is None else seed
    spends = ("no payout request (--no-payouts)" if no_payouts else
              f"up to {payouts_asked(scenario, personas, start, seed)} payout requests (double taps included), "
              "paid from the target's pools or stock: pass --no-payouts to send none")
    plan = [f"target check {scenario.name}: {', '.join(personas)}, every request of the mapping shown, from "
            f"campaign time {start:+g} s; {spends}",
            f"target: {host or 'the reference backend'}" + (f" with {', '.join(sorted(planted))}" if planted else "")]
    if dry_run:
        from rehearse.cli.swarm_cmd import print_dry_run

        print_dry_run(plan)
        return
    console = Console(highlight=False, emoji=False)
    console.print(plan[0], markup=False)
    checker = MappingCheck(scenario, on_exchange=lambda e: _print_exchange(console, e))
    operations: list[str] = []  # the read-only operations, called once at the end
    with tempfile.TemporaryDirectory(prefix="rehearse-target-check-") as folder:
        request = WalkthroughRequest(
            scenario=scenario, personas=personas, at=start, run_dir=Path(folder) / "run", seed=seed, host=host,
            ops_token=ops_token, allow_remote=allow_remote, faults=planted, trace=checker.observe,
            skip=frozenset(PAYOUT_ACTIONS) if no_payouts else frozenset(),
            at_end=lambda live: operations.extend(checker.check_operations(live)))

        def show(lines: list[str]) -> None:
            for line in lines:
                console.print(line, markup=False)

        run_walkthrough(request, on_group=lambda g: console.rule(f"[bold]{g.title}"), on_start=show)
    if operations:
        console.rule("[bold]Operations (read only, called once)")
        for line in operations:
            console.print(line, markup=False)
    _print_summary(console, checker)
    raise SystemExit(1 if checker.warnings() else 0)


def _print_exchange(console: Console, shown) -> None:
    """One request and its answer, as `MappingCheck.shown` masked them (secrets, phone numbers)."""
    o = shown.exchange.outcome
    console.print(Text.assemble((f"{shown.exchange.act.action:<20}", "bold"), shown.request))
    if shown.headers:
        console.print(Text(f"    headers {shown.headers}", "dim"))
    console.print(Text(f"    answer  {shown.answer}"))
    style = "green" if o.ok else ("yellow" if o.refused else "bold red")
    console.print(Text.assemble("    judged  ", (shown.judged, style), f" · {shown.learned}" if shown.learned else ""))


def _print_summary(console: Console, checker) -> None:
    console.rule("[bold]Mapping check")
    counts = {"ok": 0, "refused": 0, "broken": 0}
    for e in checker.exchanges:
        counts["ok" if e.outcome.ok else "refused" if e.outcome.refused else "broken"] += 1
    console.print(f"{len(checker.exchanges)} requests: {counts['ok']} ok, {counts['refused']} refused, "
                  f"{counts['broken']} broken.")
    unplayed = checker.unplayed()
    if unplayed:
        console.print(f"Mapped but not reached by these participants: {', '.join(unplayed)}.", style="dim")
    warnings = checker.warnings()
    for warning in warnings:
        console.print(Text.assemble(("warning: ", "bold yellow"), warning))
    console.print("[green]No warnings.[/]" if not warnings else f"[yellow]{len(warnings)} warning(s).[/]")
