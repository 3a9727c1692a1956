"""The launch gates: pure functions of (observations, scenario) -> verdicts with evidence.

Each reads only the run folder (contract 3) and the scenario's `gates` section, so a check
means the same on a simulated run and a live one. Requests may be one row per action or
rolled up (`count` per row); both are handled through `_weights`. A check with nothing to
judge in this run (no bans, no preheat traffic) is skipped, never passed by default.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from rehearse.observations import Run
from rehearse.reports.load import counts
from rehearse.reports.verdicts import Evidence, Verdict, judged
from rehearse.scenarios import Scenario

PARTICIPATION = ("login", "complete_task", "open_envelope", "open_invite_envelope", "grand_draw",
                 "share", "follow")
VISITS = ("open_page", "visit_link")


def all_gates(run: Run, scenario: Scenario) -> list[Verdict]:
    """Every gate's verdicts for one run."""
    verdicts = peak_gate(run, scenario) + failover_gate(run, scenario) + payout_gate(run, scenario)
    if scenario.gates.rules.enabled:
        verdicts += rules_gate(run, scenario)
    return verdicts


def _weights(run: Run, frame: pd.DataFrame) -> pd.Series:
    """How many requests each row of `frame` (a slice of run.requests) stands for."""
    return counts(run).loc[frame.index]


def _at(t: float) -> str:
    return f"t={t:,.0f} s"


# --- peak concurrency ---------------------------------------------------------------------

def peak_gate(run: Run, scenario: Scenario) -> list[Verdict]:
    """In the peak window: the target active users served, p95 per action under its SLO, few errors."""
    gate = scenario.gates.peak
    window = scenario.traffic.windows[gate.window]
    end = window.start + window.duration
    q = run.requests[(run.requests["t"] >= window.start) & (run.requests["t"] < end)]
    g = run.gauges[(run.gauges["t"] >= window.start) & (run.gauges["t"] < end)]
    verdicts = []
    if len(g) and g["active_users"].notna().any():
        peak_row = g.loc[g["active_users"].idxmax()]
        served = float(peak_row["active_users"]) * run.info.scale
        verdicts.append(judged("peak", "active users served", served, gate.target_active_users, "users",
                               served >= gate.target_active_users,
                               [Evidence(float(peak_row["t"]), f"{served:,.0f} active users "
                                         f"({peak_row['active_users']} at 1:{run.info.scale:g})")]))
    else:
        verdicts.append(judged("peak", "active users served", None, gate.target_active_users, "users", None,
                               [Evidence(None, f"no gauges in the {gate.window} window")]))
    for action, rows in q.groupby("action"):
        slo = gate.p95_for(str(action))
        if slo is None:
            continue
        if run.rolled_up:
            busy = rows[rows["count"] > 0]
            worst = busy.loc[busy["latency_p95"].idxmax()] if len(busy) else None
            p95 = float(worst["latency_p95"]) if worst is not None else None
            evidence = [Evidence(float(worst["t"]), f"p95 {p95:,.0f} ms in the worst minute")] if worst is not None else []
        else:
            # the work the action does: fast refusals (a script probing a locked envelope) would
            # hide a slow endpoint, so they are left out unless nothing else was sent
            served = rows[~rows["refused"]] if (~rows["refused"]).any() else rows
            p95 = float(served["latency_ms"].quantile(0.95))
            slow = served.nlargest(3, "latency_ms")
            evidence = [Evidence(float(r.t), f"{r.latency_ms:,.0f} ms for {r.user_id}") for r in slow.itertuples()]
        verdicts.append(judged("peak", f"p95 {action}", p95, slo * 1000, "ms",
                               None if p95 is None else p95 <= slo * 1000, evidence))
    weights = _weights(run, q)
    total = float(weights.sum())
    broken = ~q["ok"] & ~q["refused"]
    errors = float(weights[broken].sum())
    rate = errors / total if total else None
    first = q[broken].head(3)
    verdicts.append(judged("peak", "error rate", rate, gate.error_rate_max, "share",
                           None if rate is None else rate <= gate.error_rate_max,
                           [Evidence(float(r.t), f"{r.action}: {r.error or r.status}") for r in first.itertuples()]))
    return verdicts


# --- link-ban failover --------------------------------------------------------------------

def _bans(run: Run) -> list[tuple[float, str]]:
    bans = run.events[run.events["kind"] == "ban"]
    return [(float(r.t), str(r.detail).split(":")[0].strip()) for r in bans.itertuples()]


def failover_gate(run: Run, scenario: Scenario) -> list[Verdict]:
    """For each ban: time until no new link used the domain; visits lost; the pool never empty."""
    gate = scenario.gates.failover
    q = run.requests
    verdicts = []
    shares = q[(q["action"] == "share") & q["ok"] & (q["domain"] != "")]
    failovers = run.events[run.events["kind"] == "failover"]
    for ban_t, domain in _bans(run):
        if len(shares):
            later = shares[(shares["domain"] == domain) & (shares["t"] > ban_t)]
            seconds = float(later["t"].max() - ban_t) if len(later) else 0.0
            evidence = [Evidence(ban_t, f"{domain} banned"), Evidence(
                float(later["t"].max()) if len(later) else ban_t,
                f"{len(later)} links issued on it after the ban" if len(later) else "no link issued on it after the ban")]
        else:
            moved = failovers[failovers["detail"].str.startswith(domain)]
            seconds = float(moved["t"].iloc[0] - ban_t) if len(moved) else None
            evidence = [Evidence(ban_t, f"{domain} banned"),
                        Evidence(float(moved["t"].iloc[0]) if len(moved) else None,
                                 str(moved["detail"].iloc[0]) if len(moved) else "never replaced")]
        verdicts.append(judged("failover", f"links off {domain}", seconds, gate.max_seconds, "s",
                               False if seconds is None else seconds <= gate.max_seconds, evidence))
    if not verdicts:
        verdicts.append(judged("failover", "links off banned domains", None, gate.max_seconds, "s", None,
                               [Evidence(None, "no domain was banned in this run")]))
    weights = _weights(run, q)
    visits = float(weights[q["action"].isin(VISITS)].sum())
    lost_rows = q[q["error"] == "link_banned"]
    lost = float(weights[q["error"] == "link_banned"].sum())
    share = lost / visits if visits else None
    verdicts.append(judged("failover", "visits lost to bans", share, gate.max_lost_visits_share, "share",
                           None if share is None else share <= gate.max_lost_visits_share,
                           [Evidence(float(r.t), f"{r.persona} lost on a banned link") for r in lost_rows.head(3).itertuples()]))
    if gate.pool_never_empty:
        empty_events = run.events[run.events["kind"] == "pool_exhausted"]
        evidence = [Evidence(float(r.t), str(r.detail)) for r in empty_events.head(3).itertuples()]
        evidence += [Evidence(start, f"no healthy domain for {seconds:,.0f} s")
                     for start, seconds in _without_domains(run.gauges) if seconds > gate.max_seconds]
        verdicts.append(judged("failover", "backup pool never empty", float(len(evidence)), 0, "times",
                               not evidence, evidence))
    return verdicts


def _without_domains(gauges: pd.DataFrame) -> list[tuple[float, float]]:
    """Stretches with no healthy domain issuing: (start, seconds). A failover in progress makes a
    short one; longer than the failover allows means the pool was empty."""
    if not len(gauges) or gauges["healthy_domains"].isna().all():
        return []
    step = float(gauges["t"].diff().median()) if len(gauges) > 1 else 0.0
    empty = (gauges["healthy_domains"].fillna(1) <= 0).to_numpy()
    t = gauges["t"].to_numpy()
    stretches, start = [], None
    for i, flag in enumerate(empty):
        if flag and start is None:
            start = i
        if start is not None and (not flag or i == len(empty) - 1):
            end = i if not flag else i + 1
            stretches.append((float(t[start]), float(t[end - 1] - t[start] + step)))
            start = None
    return stretches


# --- payout budget ------------------------------------------------------------------------

def _ledger(run: Run) -> dict | None:
    """The target's ledger at the end of the run, if the engine recorded it (event "ledger")."""
    rows = run.events[run.events["kind"] == "ledger"]
    if not len(rows):
        return None
    try:
        return json.loads(rows["detail"].iloc[-1])
    except ValueError:
        return None


def payout_gate(run: Run, scenario: Scenario) -> list[Verdict]:
    """Never above budget (total, per pool), never paid twice, fraud's share, an early alarm."""
    gate, budget = scenario.gates.payout, scenario.budget
    g, q = run.gauges, run.requests
    verdicts = []
    left = g["budget_left_fen"].dropna() if len(g) else pd.Series(dtype=float)
    if len(left):
        low = g.loc[left.idxmin()]
        verdicts.append(judged("payout", "budget never overdrawn", float(left.min()), 0, "fen left",
                               float(left.min()) >= 0, [Evidence(float(low["t"]), f"{int(low['budget_left_fen']):,} fen left")]))
    ledger = _ledger(run)
    if ledger is not None:
        overdrawn = {name: p for name, p in (ledger.get("pools") or {}).items() if p.get("left_fen", 0) < 0}
        verdicts.append(judged("payout", "no pool overdrawn", float(len(overdrawn)), 0, "pools", not overdrawn,
                               [Evidence(None, f"{name}: {p['left_fen']:,} fen left of {p.get('budget_fen', 0):,}")
                                for name, p in overdrawn.items()]))
        twice = int(ledger.get("paid_twice") or 0)
        verdicts.append(judged("payout", "no envelope paid twice", float(twice), 0, "prizes", twice == 0,
                               [Evidence(None, f"{twice} prizes paid more than once")] if twice else []))
    else:
        verdicts.append(judged("payout", "no envelope paid twice", None, 0, "prizes", None,
                               [Evidence(None, "the run holds no ledger from the target")]))
    paid = q[q["payout_fen"] > 0]
    total = float(paid["payout_fen"].sum())
    fraud = float(paid.loc[paid["persona"] == "fraud_script", "payout_fen"].sum())
    share = fraud / total if total else None
    verdicts.append(judged("payout", "fraud's share of payouts", share, gate.fraud_share_max, "share",
                           None if share is None else share <= gate.fraud_share_max,
                           [Evidence(None, f"{fraud / 100:,.2f} of {total / 100:,.2f} yuan to fraud scripts")]))
    verdicts.append(_alarm_in_time(run, scenario, gate.alarm_before_budget_share))
    return verdicts


def _alarm_in_time(run: Run, scenario: Scenario, share: float) -> Verdict:
    """Once payouts run ahead of plan by the warning ratio, the alarm must come before `share`
    of the budget is gone (a campaign spending as planned has nothing to judge)."""
    budget_fen = scenario.budget.total_fen
    g = run.gauges[run.gauges["paid_fen"].notna()] if len(run.gauges) else run.gauges
    monitor = scenario.fund_loss_plan()
    warning = scenario.budget.fund_loss.warning_ratio
    ahead = [float(r.t) for r in g.itertuples() if monitor.read(float(r.t), int(r.paid_fen)).ratio >= warning]
    spent = g[(g["paid_fen"] >= share * budget_fen) & (g["t"] >= ahead[0])] if ahead else g.iloc[0:0]
    if not ahead or not len(spent):
        why = ("payouts never ran ahead of plan" if not ahead
               else f"less than {share:.0%} of the budget was paid after payouts ran ahead of plan")
        return judged("payout", "alarm before the budget goes", None, share, "share of budget", None,
                      [Evidence(None, why)])
    gone_t = float(spent["t"].iloc[0])
    alarms = run.events[(run.events["kind"] == "alarm") & (run.events["t"] <= gone_t)]
    evidence = [Evidence(gone_t, f"{share:.0%} of the budget paid")]
    evidence += [Evidence(float(alarms["t"].iloc[0]), "fund-loss alarm")] if len(alarms) else []
    return judged("payout", "alarm before the budget goes", share, share, "share of budget", bool(len(alarms)), evidence)


# --- the campaign's rules -----------------------------------------------------------------

def rules_gate(run: Run, scenario: Scenario) -> list[Verdict]:
    """Preheat closed, no envelope before any task, share caps held, flagged numbers refused."""
    q = run.requests
    verdicts = []
    early = q[(q["t"] < 0) & q["action"].isin(PARTICIPATION)]
    taken = early[early["ok"]]
    verdicts.append(judged("rules", "no taking part in preheat", float(_weights(run, taken).sum()), 0, "actions",
                           None if not len(early) else not len(taken),
                           [Evidence(float(r.t), f"{r.action} accepted for {r.persona}") for r in taken.head(3).itertuples()]
                           or [Evidence(None, f"{int(_weights(run, early).sum())} attempts in preheat")]))
    if run.rolled_up:
        return verdicts  # the rules below need one row per action (a live run)
    verdicts.append(_envelope_before_tasks(q))
    cap = scenario.campaign.caps.shares_per_user
    shares = q[(q["action"] == "share") & q["ok"]].groupby("user_id").size()
    over = shares[shares > cap]
    verdicts.append(judged("rules", "share cap held", float(shares.max()) if len(shares) else None, cap, "links",
                           None if not len(shares) else not len(over),
                           [Evidence(None, f"{user}: {n} links") for user, n in over.head(3).items()]))
    flagged = q[(q["action"] == "login") & q["user_id"].str.contains(r"\+(?:virtual|blacklisted)", regex=True)]
    let_in = flagged[flagged["ok"]]
    verdicts.append(judged("rules", "virtual and blacklisted numbers refused", float(len(let_in)), 0, "logins",
                           None if not len(flagged) else not len(let_in),
                           [Evidence(float(r.t), f"{r.user_id} logged in") for r in let_in.head(3).itertuples()]))
    return verdicts


def _envelope_before_tasks(q: pd.DataFrame) -> Verdict:
    """An envelope paid to someone who had completed no task yet can only be a broken lock."""
    tasks = q[(q["action"] == "complete_task") & q["ok"]].groupby("user_id")["t"].min()
    opens = q[(q["action"] == "open_envelope") & q["ok"]]
    first_task = opens["user_id"].map(tasks).astype(float).fillna(np.inf)
    early = opens[opens["t"] < first_task]
    return judged("rules", "locked envelopes refused", float(len(early)), 0, "envelopes",
                  None if not len(opens) else not len(early),
                  [Evidence(float(r.t), f"{r.user_id} paid before any task") for r in early.head(3).itertuples()])
