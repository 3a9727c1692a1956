"""One target, one budget: the money a target the harness was given (`--host`) paid in one phase
of a rehearsal is gone for the phases after it.

The main job plays the peak phase and then the launch window against the same target; a real
target does not refill its pools in between. So each phase is judged against what was left when
it began, by the harness's own reckoning of the phases before it (their rows' payouts, the
top-ups they saw made, the pools they cut small): a peak phase just within budget and a window
over what was left fail, where each judged against the whole budget would pass. A target the
harness started for a run (the reference backend, fresh for each phase) starts afresh.

    before = money_before(runs, scenario)      # {"live": MoneyBefore(phases=("peak",), ...)}
    payout_gate(run, scenario, before.get("live"))

So do the link bans: a domain banned (and reported to the target) in one phase and banned again
in a later one was the target's to replace from the first report, so a failover timed in real
seconds (a target on its own clock) counts from then (`bans_before`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

from rehearse.observations import Run
from rehearse.observations.schema import CLOCK_START
from rehearse.judging.payouts import Payouts, money_left, pool_caps, topups_seen
from rehearse.scenarios import Scenario


@dataclass(frozen=True)
class MoneyBefore:
    """What a target held when a phase began, after the earlier phases of the same rehearsal
    against it: the whole budget and each pool (fen, top-ups included, payouts taken)."""

    phases: tuple[str, ...]  # the earlier phases' labels, in order
    paid_fen: int  # what they were seen paid, in all
    total_left: int
    pools_left: dict[str, int]

    @property
    def after(self) -> str:
        return " and ".join(self.phases)


def shares_target(run: Run) -> tuple[str, str] | None:
    """The (rehearsal, target) a run spends with, when its target carries money over between
    phases: a target the harness was given, in a rehearsal that names itself (`job`)."""
    extra = run.info.extra
    job, host = extra.get("job"), extra.get("host")
    if run.info.live and extra.get("target") == "given" and isinstance(job, str) and isinstance(host, str) and host:
        return job, host
    return None


def money_before(runs: Sequence[tuple[str, Run]], scenario: Scenario) -> dict[str, MoneyBefore]:
    """For each run after the first of its rehearsal against one given target (in the order
    given, the order the phases were played): the money left when it began."""
    found: dict[str, MoneyBefore] = {}
    state: dict[tuple[str, str], MoneyBefore] = {}
    for label, run in runs:
        key = shares_target(run)
        if key is None:
            continue
        before = state.get(key)
        if before is not None:
            found[label] = before
        state[key] = _after(label, run, scenario, before)
    return found


def money_after(runs: Sequence[tuple[str, Run]], scenario: Scenario) -> MoneyBefore | None:
    """What the target of `runs` (phases of one rehearsal against one given target, in the order
    played) held once the last ended, by the harness's reckoning; None for a target started
    afresh for each run (its money does not carry over)."""
    state: MoneyBefore | None = None
    for label, run in runs:
        if shares_target(run) is None:
            return None
        state = _after(label, run, scenario, state)
    return state


def _after(label: str, run: Run, scenario: Scenario, before: MoneyBefore | None) -> MoneyBefore:
    """The money left once `run` ended, from what was left when it began."""
    paid = Payouts.of(run).paid
    topups, caps = topups_seen(run), pool_caps(run)
    budgets = before.pools_left if before is not None else scenario.pool_budgets()
    end = float("inf")
    pools = {pool: money_left(pool, [end], fen, topups, caps, paid)[0] for pool, fen in budgets.items()}
    total = before.total_left if before is not None else scenario.budget.total_fen
    spent = int(paid["payout_fen"].sum())
    return MoneyBefore(phases=(*(before.phases if before else ()), label),
                       paid_fen=(before.paid_fen if before else 0) + spent,
                       total_left=total + sum(fen for _, _, fen in topups) - spent, pools_left=pools)


@dataclass(frozen=True)
class EarlierBan:
    """A domain banned in an earlier phase against the same target: which, and when (wall clock)."""

    phase: str
    at: datetime


def ban_walls(run: Run) -> list[tuple[str, datetime]]:
    """Each ban of a live run (domain, wall time), placed by its clock start; [] without one."""
    starts = run.events[run.events["kind"] == CLOCK_START]
    if not len(starts):
        return []
    try:
        start = datetime.fromisoformat(str(starts["detail"].iloc[0]))
    except ValueError:
        return []
    t0, compress = float(starts["t"].iloc[0]), float(run.info.compress or 1.0)
    bans = run.events[run.events["kind"] == "ban"]
    return [(str(r.detail).split(":")[0].strip(), start + timedelta(seconds=(float(r.t) - t0) / compress))
            for r in bans.itertuples()]


def bans_before(runs: Sequence[tuple[str, Run]]) -> dict[str, dict[str, EarlierBan]]:
    """For each run after the first of its rehearsal against one given target: the domains the
    earlier phases banned, each with its first ban."""
    found: dict[str, dict[str, EarlierBan]] = {}
    state: dict[tuple[str, str], dict[str, EarlierBan]] = {}
    for label, run in runs:
        key = shares_target(run)
        if key is None:
            continue
        earlier = state.setdefault(key, {})
        if earlier:
            found[label] = dict(earlier)
        for domain, at in ban_walls(run):
            earlier.setdefault(domain, EarlierBan(label, at))
    return found
