"""The payout gate, judged from the harness's own ledger: the requests rows' payouts, the prize
each drew on and the attempt each belongs to (the copies of a burst and the retries of a step).

The target's books (its `ledger` operation, read at the start and the end of a live run) are a
cross-check: what they admit (a pool overdrawn, a prize paid twice, less paid than the harness
saw) fails a check; what they claim never passes one. A check with no payout to judge is not
verified, and a missing figure is never read as 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from rehearse.observations import Run
from rehearse.personas.steps import REPLAYED
from rehearse.judging.payouts import Books, Payouts, money_timeline, pool_caps, topups_seen
from rehearse.judging.verdicts import Evidence, Verdict, judged, not_applicable, unverified
from rehearse.scenarios import Scenario
from rehearse.scenarios.rules import prizes_allowed

if TYPE_CHECKING:
    from rehearse.judging.carried import MoneyBefore

def _yuan(fen: float) -> str:
    return f"{fen / 100:,.2f} yuan"


def _amounts(rows: pd.DataFrame) -> str:
    """A few payout rows as evidence: each amount, when, and whether the target called it a replay."""
    return ", ".join(f"{int(r.payout_fen):,} fen at t={r.t:,.0f} s"
                     f"{' (marked a replay)' if str(r.error).startswith(REPLAYED) else ''}" for r in rows.itertuples())


STEP_SLICES = ("a step load plays seconds of each journey at the peak's concurrency, so its payouts are the "
               "fastest personas' (scripts), not the campaign's mix: judged where whole journeys are played")


def payout_gate(run: Run, scenario: Scenario, before: MoneyBefore | None = None) -> list[Verdict]:
    """Never above budget (total, per pool), never paid twice, within the rules, the target's
    books, fraud's share, an early alarm. `before`: what the target held when the run began,
    after earlier phases of the same rehearsal spent from it (judging/carried.py); None: its
    whole budget."""
    gate = scenario.gates.payout
    payouts, books = Payouts.of(run), Books.of(run)
    verdicts = [_never_overdrawn(run, scenario, payouts, before),
                _no_pool_overdrawn(run, scenario, payouts, books, before),
                _paid_once(run, payouts, books),
                _within_rules(run, scenario, payouts),
                _books_match(run, scenario, payouts, books)]
    total = float(payouts.paid["payout_fen"].sum())
    fraud = float(payouts.paid.loc[payouts.paid["persona"] == "fraud_script", "payout_fen"].sum())
    scripts_asked = bool((payouts.asked["persona"] == "fraud_script").any())
    share = fraud / total if total and scripts_asked and not run.info.step_load else None
    why = (STEP_SLICES if run.info.step_load else
           payouts.why_nothing() or ("no fraud script asked for a payout" if not scripts_asked else ""))
    verdicts.append(judged("payout", "fraud's share of payouts", share, gate.fraud_share_max, "share",
                           None if share is None else share <= gate.fraud_share_max,
                           [Evidence(None, f"{_yuan(fraud)} of {_yuan(total)} to fraud scripts" if share is not None
                                     else why)], slug="fraud_share"))
    verdicts.append(_alarm_in_time(run, scenario, gate.alarm_before_budget_share))
    return verdicts


# --- budget: total and per pool -----------------------------------------------------------

def _never_overdrawn(run: Run, scenario: Scenario, payouts: Payouts, before: MoneyBefore | None = None) -> Verdict:
    """Everything paid, in the order it was sent, against the whole budget (or what earlier
    phases left of it) plus the top-ups made by then; a negative budget in the ledger's gauges
    fails it too."""
    gauges = run.gauges
    admitted = gauges[gauges["budget_left_fen"].notna() & (gauges["budget_left_fen"] < 0)] if len(gauges) else gauges
    why = payouts.why_nothing()
    evidence = [Evidence(float(r.t), f"the ledger shows {int(r.budget_left_fen):,} fen left")
                for r in admitted.head(1).itertuples()]
    if why is not None:
        if evidence:
            return judged("payout", "budget never overdrawn", None, 0, "fen over", False, evidence, "never_overdrawn")
        return unverified("payout", "budget never overdrawn", why, "never_overdrawn", 0, "fen over")
    total = "the whole budget" if before is None else f"the budget left after {before.after}"
    held = scenario.budget.total_fen if before is None else before.total_left
    over = _overdraws({total: held}, [(t, total, fen) for t, _, fen in topups_seen(run)], [],
                      payouts.paid.assign(prize=total))
    paid = float(payouts.paid["payout_fen"].sum())
    of = (f"a {_yuan(held)} budget{_afresh(run)}" if before is None else
          f"the {_yuan(held)} left after {before.after} ({_yuan(before.paid_fen)} paid there: the same target)")
    evidence = [e for e, _ in over] + evidence or [Evidence(float(payouts.paid["t"].max()), f"{_yuan(paid)} paid of {of}")]
    worst = max((fen for _, fen in over), default=0)
    return judged("payout", "budget never overdrawn", float(worst), 0, "fen over", not over and not len(admitted),
                  evidence, "never_overdrawn")


def _overdraws(budgets: dict[str, int], topups: list[tuple[float, str, int]], caps: list[tuple[float, str, int]],
               paid: pd.DataFrame, start: str = "its budget") -> list[tuple[Evidence, int]]:
    """Each pool's payouts (rows whose `prize` names it, `t` when sent) against its money: the
    budget, or from a cap on the money left then, plus the top-ups made since. For each pool
    that paid more than it held: the first moment, and the most it went over (fen) before the
    next cap."""
    found = []
    for pool, rows in paid.groupby("prize"):
        pool = str(pool)
        if pool not in budgets:
            continue
        timeline = money_timeline(pool, topups, caps, rows)
        held, spent, since = budgets[pool], 0, start
        first: float | None = None
        worst = (0, 0, 0)  # (fen over, paid, held) at the worst moment since the last cap
        for t, _, what, fen in timeline + [(float("inf"), 0, "cap", 0)]:
            if what == "cap":
                if first is not None:
                    found.append((Evidence(first, f"{pool}: {worst[1]:,} fen paid against {worst[2]:,} fen "
                                                  f"({since}, top-ups included), {worst[0]:,} fen over"), worst[0]))
                held, spent, since, first, worst = fen, 0, f"left at the cap at t={t:,.0f} s", None, (0, 0, 0)
            elif what == "topup":
                held += fen
            else:
                spent += fen
                if spent > held:
                    first = t if first is None else first
                    worst = max(worst, (spent - held, spent, held))
    return found


def _afresh(run: Run) -> str:
    """How a run's target began, where it matters: one the harness started is fresh for the run."""
    return " (a target started afresh for this run)" if run.info.extra.get("target") == "started" else ""


def _no_pool_overdrawn(run: Run, scenario: Scenario, payouts: Payouts, books: Books,
                       before: MoneyBefore | None = None) -> Verdict:
    admitted = [Evidence(None, f"the target's own ledger: {name} has {p['left_fen']:,} fen left")
                for name, p in books.pools("end").items()
                if isinstance(p.get("left_fen"), (int, float)) and p["left_fen"] < 0]
    why = payouts.why_nothing()
    if why is not None:
        if admitted:
            return judged("payout", "no pool overdrawn", None, 0, "pools", False, admitted, "no_pool_overdrawn")
        return unverified("payout", "no pool overdrawn", why, "no_pool_overdrawn", 0, "pools")
    budgets = scenario.pool_budgets() if before is None else before.pools_left
    over = _overdraws(budgets, topups_seen(run), pool_caps(run), payouts.paid,
                      "its budget" if before is None else f"what was left after {before.after}")
    pools = len(over)
    money = "its money" if before is None else f"what {before.after} left it (the same target)"
    evidence = [e for e, _ in over] + admitted or [Evidence(None, f"{payouts.paid['prize'].nunique()} pools paid from, "
                                                  f"each within {money}")]
    uncut = run.events[run.events["kind"] == "race_uncut"]
    if len(uncut) and not over and not admitted:  # say what the race could not show
        evidence.append(Evidence(float(uncut["t"].iloc[0]), str(uncut["detail"].iloc[0]) + ": it raced repeated "
                                 "taps, not a pool's last money"))
    return judged("payout", "no pool overdrawn", float(pools), 0, "pools", not over and not admitted,
                  evidence, "no_pool_overdrawn")


# --- per attempt and per participant -------------------------------------------------------

def _paid_once(run: Run, payouts: Payouts, books: Books) -> Verdict:
    """No attempt (a burst's copies, a step's retries) paid more than once."""
    twice_then = (books.start or {}).get("paid_twice")
    twice_now = (books.end or {}).get("paid_twice")
    admitted = []
    if isinstance(twice_now, int) and twice_now > (twice_then if isinstance(twice_then, int) else 0):
        admitted = [Evidence(None, f"the target's own ledger counts {twice_now} prizes paid more than once")]
    why = payouts.why_nothing()
    if why is None and run.rolled_up:
        why = "a rolled-up run keeps no attempts"
    answered = payouts.asked[payouts.asked["status"] != 0]  # a copy with no answer shows nothing
    if why is None:
        tries = answered.groupby("attempt").size()
        if not (tries > 1).any():
            why = ("no payout attempt was answered more than once (no burst, double tap or retry landed): "
                   "nothing raced")
    if why is not None:
        if admitted:
            return judged("payout", "no attempt paid twice", None, 0, "attempts", False, admitted, "paid_once")
        return unverified("payout", "no attempt paid twice", why, "paid_once", 0, "attempts",
                          to_verify="a run against the target in which payout attempts are sent more than once "
                                    "(the main job's launch window: double taps, scripts' bursts and its budget race; "
                                    "rehearse swarm --race-at TIME)")
    paid = payouts.paid.groupby("attempt")
    n = paid.size()
    twice = n[n > 1]
    evidence = []
    for attempt in twice.index[:3]:
        rows = payouts.paid[payouts.paid["attempt"] == attempt]
        first = rows.iloc[0]
        evidence.append(Evidence(float(first["t"]), f"{first['user_id']}: one {first['action']} "
                                                    f"({first['prize']}) paid {len(rows)} times: {_amounts(rows)}"))
    evidence += admitted
    raced = int((answered.groupby("attempt").size() > 1).sum())
    return judged("payout", "no attempt paid twice", float(len(twice)), 0, "attempts", not len(twice) and not admitted,
                  evidence or [Evidence(None, f"{raced:,} attempts sent more than once, each paid at most once")],
                  "paid_once")


def _within_rules(run: Run, scenario: Scenario, payouts: Payouts) -> Verdict:
    """No participant paid from a prize more often than the rules allow (one envelope per
    institution, the grand round's draws, the invite rewards)."""
    allowed = prizes_allowed(scenario)
    why = payouts.why_nothing()
    if why is None and run.rolled_up:
        why = "a rolled-up run keeps no participants"
    if why is None:
        asked = payouts.asked[payouts.asked["prize"].isin(list(allowed))]
        tries = asked.groupby(["user_id", "prize"]).size()
        limits = pd.Series([allowed[p] for _, p in tries.index], index=tries.index, dtype="int64")
        if not (tries > limits).any():
            why = "nobody asked for a prize more often than the rules allow: nothing tested them"
    if why is not None:
        return unverified("payout", "prizes within the rules", why, "within_rules", 0, "participants",
                          to_verify="a run against the target with participants who ask for a prize more often "
                                    "than the rules allow (fraud scripts in the mix: personas.mix.fraud_script "
                                    "above 0, enough participants that some arrive)")
    paid = payouts.paid[payouts.paid["prize"].isin(list(allowed))]
    n = paid.groupby(["user_id", "prize"]).size()
    over = n[n > pd.Series([allowed[p] for _, p in n.index], index=n.index, dtype="int64")]
    evidence = []
    for (user, prize), times in over.head(3).items():
        rows = paid[(paid["user_id"] == user) & (paid["prize"] == prize)]
        evidence.append(Evidence(float(rows["t"].iloc[0]), f"{user}: {prize} paid {times} times "
                                                           f"(the rules allow {allowed[prize]}): {_amounts(rows)}"))
    users = over.index.get_level_values(0).nunique() if len(over) else 0
    return judged("payout", "prizes within the rules", float(users), 0, "participants", not len(over),
                  evidence or [Evidence(None, f"{paid['user_id'].nunique():,} participants paid, none beyond the rules")],
                  "within_rules")


# --- the target's books, cross-checked ----------------------------------------------------

def _books_match(run: Run, scenario: Scenario, payouts: Payouts, books: Books) -> Verdict:
    """The target's books against what the harness saw it pay, in all and per pool. Less is a
    lost update; more than the answers the harness never saw (no answer, broken) could hold is
    money paid that no answer showed (a second payment called a replay, a payment to nobody)."""
    name, slug = "the target's books match what it paid", "books_match"
    if books.end is None:
        return unverified("payout", name, "the target's ledger was not read (no ledger operation mapped)", slug)
    if books.start is None:
        return unverified("payout", name, "the target's ledger was not read at the start of the rows judged "
                                          "(a drill judges its window; the books cover the whole run)", slug)
    why = payouts.why_nothing()
    if why is not None:
        return unverified("payout", name, why, slug)
    largest = scenario.largest_payouts()
    asked = payouts.asked
    unseen = asked[(asked["status"] == 0) | (~asked["ok"] & ~asked["refused"])]
    most = unseen["prize"].map(largest).fillna(0).astype("int64")  # the most each unseen answer may have paid
    slack = (payouts.weights[unseen.index].astype("int64") * most).groupby(unseen["prize"]).sum()
    checked, wrong = [], []

    def compare(label: str, before: object, after: object, seen: int, room: int) -> None:
        if not (isinstance(before, (int, float)) and isinstance(after, (int, float))):
            return
        checked.append(label)
        booked = int(after - before)
        if booked < seen:
            wrong.append(Evidence(None, f"{label}: the harness saw {seen:,} fen paid; the target's books record "
                                        f"{booked:,} fen ({seen - booked:,} lost)"))
        elif booked > seen + room:
            wrong.append(Evidence(None, f"{label}: the target's books record {booked:,} fen paid; the harness saw "
                                        f"{seen:,} fen paid, and the answers it never saw could hold {room:,} fen: "
                                        f"{booked - seen - room:,} fen paid that no answer showed"))

    compare("in all", books.start.get("paid_fen"), books.end.get("paid_fen"),
            int(payouts.paid["payout_fen"].sum()), int(slack.sum()))
    before, after = books.pools("start"), books.pools("end")
    for pool, rows in payouts.paid.groupby("prize"):
        compare(str(pool), (before.get(str(pool)) or {}).get("paid_fen"), (after.get(str(pool)) or {}).get("paid_fen"),
                int(rows["payout_fen"].sum()), int(slack.get(pool, 0)))
    if not checked and (books.end.get("unread") or books.start.get("unread")):
        return unverified("payout", name, "the target's ledger operation is mapped but did not answer with its "
                          "figures (an error status or a refusal): check target.operations.ledger's path and "
                          "token with rehearse target check", slug)
    if not checked:
        gave = [k for k in (books.end.get("gave") or []) if k != "gave"]
        return unverified("payout", name, "the target's ledger gives no paid_fen, in all or per pool (it gave: "
                          f"{', '.join(gave) or 'nothing'}): map paid_fen under target.operations.ledger.extract",
                          slug)
    return judged("payout", name, float(len(wrong)), 0, "mismatches", not wrong,
                  wrong or [Evidence(None, f"the books record what the harness saw paid, less nothing and no more "
                                           f"than the answers it never saw could hold ({', '.join(checked[:6])})")],
                  slug)


# --- the fund-loss alarm ------------------------------------------------------------------

def _alarm_in_time(run: Run, scenario: Scenario, share: float | None) -> Verdict:
    """Once payouts run ahead of plan by the warning ratio, the alarm must come before `share`
    of the budget is gone (a campaign spending as planned has nothing to judge). The alarm is an
    event (the simulator's, a drill's); a target that shows none, nor an alarm level, cannot be
    judged on it; one that shows its level and never raised it fails."""
    monitor = scenario.fund_loss_plan()
    if monitor is None or scenario.budget.fund_loss is None or share is None:  # a fund_loss comes with a share
        return not_applicable("payout", "alarm before the budget goes",
                              scenario.not_applicable()["payout.alarm_before_budget"], "alarm_before_budget")
    budget_fen = scenario.budget.total_fen
    g = run.gauges[run.gauges["paid_fen"].notna()] if len(run.gauges) else run.gauges
    warning = scenario.budget.fund_loss.warning_ratio
    ahead = [float(r.t) for r in g.itertuples() if monitor.read(float(r.t), int(r.paid_fen)).ratio >= warning]
    spent = g[(g["paid_fen"] >= share * budget_fen) & (g["t"] >= ahead[0])] if ahead else g.iloc[0:0]
    if not ahead or not len(spent):
        why = ("payouts never ran ahead of plan" if not ahead
               else f"less than {share:.0%} of the budget was paid after payouts ran ahead of plan")
        return unverified("payout", "alarm before the budget goes", why, "alarm_before_budget", share,
                          "share of budget")
    gone_t = float(spent["t"].iloc[0])
    alarms = run.events.loc[run.events["kind"] == "alarm", "t"]
    raised = [float(t) for t in alarms if t <= gone_t]
    evidence = [Evidence(gone_t, f"{share:.0%} of the budget paid")]
    levels = run.gauges["alarm_level"].dropna() if "alarm_level" in run.gauges else run.gauges.iloc[0:0]
    if not raised and not len(alarms) and not len(levels):
        return unverified("payout", "alarm before the budget goes", f"payouts ran ahead of plan and {share:.0%} "
                          "of the budget was paid, but the target shows no fund-loss alarm the harness can see "
                          "(no alarm event, no alarm_level in its answers): map an operation that gives "
                          "alarm_level, or turn the check off (gates.off)", "alarm_before_budget", share,
                          "share of budget")
    if not raised and len(levels) and (run.gauges.loc[levels.index, "t"] <= gone_t).any() and \
            (levels[run.gauges.loc[levels.index, "t"] <= gone_t] >= 1).any():
        # a target's own alarm-level gauge is what it says about itself: it never passes a check
        return unverified("payout", "alarm before the budget goes", "the target's own alarm_level rose before "
                          f"{share:.0%} of the budget was paid, but no alarm event was seen",
                          "alarm_before_budget", share, "share of budget")
    evidence += [Evidence(min(raised), "fund-loss alarm")] if raised else []
    return judged("payout", "alarm before the budget goes", share, share, "share of budget", bool(raised),
                  evidence, "alarm_before_budget")
