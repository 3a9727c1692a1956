"""`rehearse scenario validate|show`: check a scenario file and see what it says."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml
from rich.console import Console
from rich.table import Table

from rehearse.cli.options import InPath, one_line
from rehearse.scenarios import Scenario, load_scenario

SCENARIO_ARG = click.argument("path", required=False, type=InPath(dir_okay=False, example="scenario.yaml"))


@click.group()
def scenario() -> None:
    """Check a scenario file, or show what it describes."""


@scenario.command()
@click.argument("paths", nargs=-1, required=True, type=InPath(example="scenario.yaml"))
def validate(paths: tuple[Path, ...]) -> None:
    """Validate scenario files: one line each; exit 2 if any is bad.

    A bad file gets one line naming the file, line, field path and what is expected, e.g.
    `x.yaml:12: budget.grand_round_fen: input should be greater than or equal to 0 (got -5)`.
    """
    from rehearse.scenarios import ScenarioError

    console = Console(highlight=False, soft_wrap=True)
    errors = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
    bad = 0
    for path in paths:
        try:
            loaded = load_scenario(path)
        except ScenarioError as exc:
            bad += 1
            errors.print(f"rehearse: error: {one_line(str(exc))}", markup=False)
            continue
        console.print(f"ok: {path}: scenario {loaded.name!r} (digest {loaded.digest()})", markup=False)
    if bad:
        raise click.exceptions.Exit(2)


@scenario.command()
@SCENARIO_ARG
@click.option("--format", "fmt", type=click.Choice(["summary", "yaml", "json"]), default="summary",
              show_default=True, help="summary: tables for people; yaml/json: every field, "
              "defaults filled in.")
def show(path: Path | None, fmt: str) -> None:
    """Show a scenario (the bundled reference campaign when PATH is left out)."""
    loaded = load_scenario(path)
    if fmt == "json":
        click.echo(json.dumps(loaded.model_dump(mode="json"), indent=2, ensure_ascii=False))
    elif fmt == "yaml":
        click.echo(yaml.safe_dump(loaded.model_dump(mode="json"), sort_keys=False, allow_unicode=True))
    else:
        Console(highlight=False).print(*summary_tables(loaded))


def _yuan(fen: float) -> str:
    return f"{fen / 100:,.2f} yuan"


def summary_tables(s: Scenario) -> list[Table]:
    """The scenario as a few tables a product manager can read."""
    c, p = s.campaign, s.campaign.phases
    curve = s.arrival_curve()
    peak_rate = float(curve.rate.max())
    overview = Table(title=f"{c.title} ({s.name}, digest {s.digest()})", show_header=False)
    overview.add_column(style="bold")
    overview.add_column()
    rows = [
        ("preheat", f"{p.preheat_start.isoformat()} ({p.preheat_s / 86400:g} days)" if p.preheat_start else "none"),
        ("launch", p.launch.isoformat()),
        ("end", f"{p.end.isoformat()} ({p.live_s / 86400:g} days live)"),
        ("institutions", ", ".join(i.id + ("" if i.tasks else " (no tasks)") for i in c.institutions)),
        ("grand round", f"top prize {_yuan(c.grand_round.top_prize.amount_fen)} "
                        f"x{c.grand_round.top_prize.count or 'unlimited'}" if c.grand_round else "none"),
        ("invite", f"{c.invite.friends_required} friends -> one extra envelope "
                   f"(max {c.invite.max_rewards_per_user})" if c.invite else "none"),
        ("follow", c.follow.account if c.follow else "none"),
        ("participants", (f"{s.traffic.participants_first_24h:,} in 24 h, " if p.live_s > 86400 else "")
                         + f"{s.traffic.participants_total:,} in total"
                         + (f", {s.traffic.preheat_visitors:,} preheat visitors" if p.has_preheat else "")),
        ("arrival peak", f"{peak_rate:,.1f} arrivals/s ({peak_rate * 60:,.0f}/min)"),
        ("channels", ", ".join(f"{ch.channel_id} {ch.share:.0%}" for ch in s.traffic.channels)),
        ("personas", ", ".join(f"{k} {v:.0%}" for k, v in s.personas.mix.weights().items()
                               if v or k != "preheat_browser")),
        ("links", f"{len(s.links.primary_domains)} primary, {len(s.links.backup_domains)} backup "
                  f"domains; ban at {s.links.ban_rule.max_visits:,} visits or "
                  f"{s.links.ban_rule.max_shares:,} shares per {s.links.ban_rule.window / 3600:g} h"
                  if s.links is not None else "none: the campaign issues no share links"),
        ("budget", _yuan(s.budget.total_fen) + (f" (fund-loss warning x{s.budget.fund_loss.warning_ratio:g}, "
                                                f"stop x{s.budget.fund_loss.stop_ratio:g})"
                                                if s.budget.fund_loss is not None else " (no fund-loss alarm)")),
        ("target", s.target.adapter or f"{len(s.target.actions)} actions mapped"),
    ]
    for row in rows:
        overview.add_row(*row)
    gates = Table(title="Launch gates")
    gates.add_column("gate", style="bold")
    gates.add_column("criterion")
    g = s.gates
    gates.add_row("peak", f"{g.peak.target_active_users:,} active users in {g.peak.window}; "
                          f"p95 {', '.join(f'{k} {v * 1000:g} ms' for k, v in g.peak.p95.items())}; "
                          f"errors <= {g.peak.error_rate_max:.1%}")
    if g.failover is not None:
        gates.add_row("failover", f"banned domain gone from new links within {g.failover.max_seconds:g} s; "
                                  f"lost visits <= {g.failover.max_lost_visits_share:.0%}; "
                                  f"backup pool never empty: {'yes' if g.failover.pool_never_empty else 'not judged'}")
    alarm = (f"; alarm before {g.payout.alarm_before_budget_share:.0%} of budget is gone"
             if g.payout.alarm_before_budget_share is not None else "")
    gates.add_row("payout", f"never over budget, never paid twice; fraud share <= {g.payout.fraud_share_max:.0%}"
                            + alarm)
    gates.add_row("rules", "on" if g.rules.enabled else "off")
    for key, why in s.not_applicable().items():
        gates.add_row(key, f"not applicable: {why}")
    for key in g.advisory:
        gates.add_row(key, "advisory: judged and shown, never failing")
    for key in g.off:
        gates.add_row(key, "off: not judged")
    return [overview, gates]
