"""`rehearse simulate`: the whole campaign in campaign time, in seconds, with what-ifs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rehearse.cli.options import (DRY_RUN, FORCE, SCENARIO_ARGUMENT, SEED, SEED_MAX, OutDir, Override, force_only,
                                  only_with)

REPLICAS_MAX = 1000
JOBS_MAX = 64

ROWS = (
    ("participants on day one", "participants_24h", "count"),
    ("participants in total", "participants_total", "count"),
    ("peak active users", "peak_active_users", "count"),
    ("  ... at", "peak_active_t", "time"),
    ("peak requests/s", "peak_rps", "rate"),
    ("  ... at", "peak_rps_t", "time"),
    ("p95 latency at the peak", "p95_ms_at_peak", "ms"),
    ("paid", "paid_fen", "yuan"),
    ("fraud's share of payouts", "fraud_share", "share"),
    ("a pool ran out at", "budget_exhausted_t", "time"),
    ("fund-loss alarm at", "alarm_t", "time"),
    ("payouts paused at", "pause_t", "time"),
    ("domain bans", "bans", "count"),
    ("backup pool empty at", "pool_exhausted_t", "time"),
    ("users lost to bans", "users_lost", "count"),
)


def campaign_time(seconds: float) -> str:
    """Campaign time as 'day 2 14:05' after launch (day 1 is launch day)."""
    day, rest = divmod(int(seconds), 86400)
    return f"day {day + 1} +{rest // 3600:02d}:{rest % 3600 // 60:02d}"


def _format(value: float | None, kind: str) -> str:
    if value is None:
        return "-"
    return {"count": f"{value:,.0f}", "time": campaign_time(value), "rate": f"{value:,.1f}",
            "ms": f"{value:,.0f} ms", "yuan": f"{value / 100:,.2f} yuan", "share": f"{value:.2%}"}[kind]


@click.command()
@SCENARIO_ARGUMENT
@click.option("--seed", type=SEED, help="Seed of the first replica (the next ones add 1). [default: the scenario's]")
@click.option("--replicas", type=click.IntRange(1, REPLICAS_MAX), default=1, show_default=True,
              help="Independent runs with consecutive seeds, summarised with mean and 5-95 % bands.")
@click.option("--jobs", type=click.IntRange(1, JOBS_MAX), default=1, show_default=True,
              help="With --replicas 2 or more: processes running replicas in parallel.")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", type=Override(),
              help="What-if override (repeatable), e.g. --set personas.mix.fraud_script=0.2.")
@click.option("--out", type=OutDir(),
              help="Run folder (replica-NNN inside it when more than one). [default: runs/simulate-TIME]")
@FORCE
@DRY_RUN
@click.pass_context
def simulate(ctx: click.Context, scenario_path: Path | None, seed: int | None, replicas: int, jobs: int,
             overrides: tuple[str, ...], out: Path | None, force: bool, dry_run: bool) -> None:
    """Simulate the whole campaign (default: the bundled scenario) in campaign time.

    Preheat visitors, the launch spike, daily cycles and the long tail; sharers' invitees;
    every participant's journey from the same personas as the swarm; the backend's queues; the
    platform banning domains and the failover; the budget with the fund-loss monitor. At full
    scale, no sampling. Observations go to a run folder (requests rolled up per minute).

    \b
    What-ifs:
      rehearse simulate --set personas.mix.fraud_script=0.3 --set personas.mix.normal=0.4
      rehearse simulate --set links.backup_domains=[] --set links.ban_rule.max_shares=2000
      rehearse simulate --replicas 4 --jobs 2
      rehearse simulate --set personas.mix.fraud_script=0.3 --dry-run   # the plan, nothing simulated
    """
    from rehearse.scenarios import UsageError, load_scenario
    from rehearse.simulator.run import RunRequest, bands, default_out, run_replicas

    force_only(ctx, out)
    only_with(ctx, ["jobs"], replicas > 1 or jobs == 1, "with --replicas 2 or more (one replica is one process)",
              "add --replicas N")
    scenario = load_scenario(scenario_path, overrides)  # bad input: one line, before anything runs
    first = scenario.seed if seed is None else seed
    if first + replicas - 1 > SEED_MAX:
        raise UsageError(f"--seed {first} with --replicas {replicas}: the last replica's seed would be "
                         f"{first + replicas - 1}, past {SEED_MAX}; give a seed up to {SEED_MAX - replicas + 1}")
    out = out or default_out()
    if dry_run:
        from rehearse.cli.swarm_cmd import print_dry_run

        seeds = f"seed {first}" if replicas == 1 else f"seeds {first}..{first + replicas - 1} in {jobs} process(es)"
        print_dry_run([f"simulate {scenario.name}: the whole campaign, {scenario.traffic.participants_total:,} "
                       f"participants, {replicas} replica(s), {seeds}",
                       f"run folder: {out}"])
        return
    request = RunRequest(scenario_path=scenario_path, overrides=overrides, seed=seed, replicas=replicas,
                         jobs=jobs, out=out, force=force)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TextColumn("replicas"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        bar = progress.add_task("simulating", total=replicas)
        summaries = run_replicas(request, lambda _: progress.advance(bar))
    Console(highlight=False, width=max(Console().width, 100)).print(summary_table(summaries, bands(summaries)))
    console.print(f"run folder: {out}")


def summary_table(summaries: list[dict], figures: dict) -> Table:
    """One row per figure; with replicas, the mean and the 5-95 % band."""
    many = len(summaries) > 1
    table = Table(title="Simulated campaign" + (f" ({len(summaries)} replicas)" if many else ""))
    table.add_column("figure", no_wrap=True)
    table.add_column("mean" if many else "value", justify="right", no_wrap=True)
    if many:
        table.add_column("5-95 %", justify="right", no_wrap=True)
        table.add_column("replicas", justify="right")
    for label, key, kind in ROWS:
        mean, low, high, hits = figures[key]
        cells = [label, _format(mean, kind)]
        if many:
            cells += ["-" if low is None else f"{_format(low, kind)} .. {_format(high, kind)}",
                      f"{hits}/{len(summaries)}"]
        table.add_row(*cells)
    return table
