"""The launch gates: pure functions of (observations, scenario) -> verdicts with evidence.

Each reads only the run folder (contract 3) and the scenario's `gates` section, so a check
means the same on a simulated run and a live one. Requests may be one row per action or
rolled up (`count` per row); both are handled through `_weights`. A check with nothing to
judge in this run (no bans, no preheat traffic, no payout) is not verified, never passed by
default; requests cut off by the end of a run (`unanswered`) are neither served nor errors.
The payout gate lives in `payout_gate` (the harness's own ledger).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from rehearse.observations import Run
from rehearse.observations.schema import HARNESS_KEY_PREFIX, HARNESS_PERSONAS, UNANSWERED
from rehearse.judging.load import counts
from rehearse.judging.carried import EarlierBan, MoneyBefore, ban_walls
from rehearse.judging.payout_gate import payout_gate
from rehearse.judging.steps import step_verdicts, steps_of
from rehearse.judging.verdicts import Evidence, Verdict, judged, not_applicable, turned_off, unverified
from rehearse.scenarios import Scenario

PARTICIPATION = ("login", "complete_task", "open_envelope", "open_invite_envelope", "grand_draw",
                 "share", "follow")
VISITS = ("open_page", "visit_link")
# Links on other domains needed after the last one on a banned domain, per primary domain (the
# campaign issues links over its primaries, backups replacing banned ones), to show it out of
# rotation: a target still picking it at random among n issuing domains would have issued it
# again with a chance of (1 - 1/n) ** (5 n), under 1 %.
LINKS_PER_DOMAIN = 5


def all_gates(run: Run, scenario: Scenario, before: MoneyBefore | None = None,
              banned_before: dict[str, EarlierBan] | None = None) -> list[Verdict]:
    """Every gate's verdicts for one run (`before`: the money its target held when it began, if
    earlier phases spent from it; `banned_before`: the domains they banned); a check of a
    feature the campaign leaves out is marked not applicable instead."""
    verdicts = (peak_gate(run, scenario) + failover_gate(run, scenario, banned_before)
                + payout_gate(run, scenario, before))
    if scenario.gates.rules.enabled:
        verdicts += rules_gate(run, scenario)
    return as_asked(mark_not_applicable(verdicts, scenario.not_applicable()), scenario)


def as_asked(verdicts: list[Verdict], scenario: Scenario) -> list[Verdict]:
    """The verdicts as the scenario's `gates` asks for them: a check turned off replaced by one
    `off` verdict, an advisory one marked so (it never fails the rehearsal)."""
    asked, seen = [], set()
    for v in verdicts:
        setting = scenario.gates.setting(v.key)
        if setting == "off" and v.status != "not_applicable":
            if v.key not in seen:
                seen.add(v.key)
                asked.append(replace(turned_off(v.gate, v.check, v.slug), run=v.run, engine=v.engine))
        else:
            asked.append(replace(v, advisory=setting == "advisory"))
    return asked


def mark_not_applicable(verdicts: list[Verdict], reasons: dict[str, str]) -> list[Verdict]:
    """The verdicts with each check named in `reasons` (key: why) replaced by one not applicable."""
    marked, seen = [], set()
    for v in verdicts:
        if v.key not in reasons:
            marked.append(v)
        elif v.key not in seen:
            seen.add(v.key)
            marked.append(not_applicable(v.gate, v.check, reasons[v.key], v.slug))
    return marked


def _weights(run: Run, frame: pd.DataFrame) -> pd.Series:
    """How many requests each row of `frame` (a slice of run.requests) stands for."""
    return counts(run).loc[frame.index]


def _at(t: float) -> str:
    return f"t={t:,.0f} s"


# --- peak concurrency ---------------------------------------------------------------------

def silent_after(phase: str, waited_s: float, said: str) -> Verdict:
    """A finding of the main job: the target stopped answering after a phase (it never recovered
    from the peak within the wait), so the phases after it were not played."""
    return replace(judged("peak", "target answers after the peak", waited_s, 0, "s without an answer", False,
                          [Evidence(None, f"the target stopped answering after the {phase} phase: no answer for "
                                          f"{waited_s:,.0f} s ({said}); the phases after it were not played, "
                                          "the phases played are judged")], slug="answers_after_peak"),
                   run=phase, engine="swarm")


def peak_gate(run: Run, scenario: Scenario) -> list[Verdict]:
    """In the peak window: the target active users served, p95 per action under its SLO, few errors."""
    steps = steps_of(run, scenario)
    if steps is not None:  # a step load: the knee against the target (judging/steps.py)
        return step_verdicts(steps, scenario)
    gate = scenario.gates.peak
    live = run.info.live
    window = scenario.traffic.windows[gate.window]
    end = window.start + window.duration
    q = run.target_load()  # the scenario's own load, answered, before any early stop of the harness
    q = q[(q["t"] >= window.start) & (q["t"] < end)]
    # a pass at a fraction of the peak's concurrency proves nothing about the peak; a fail does
    partial = live and run.info.scale != 1
    at = f" at 1:{run.info.scale:g} of the peak's concurrency"
    g = run.gauges[(run.gauges["t"] >= window.start) & (run.gauges["t"] < end)]
    verdicts = []
    if len(g) and g["active_users"].notna().any() and live and run.info.scale != 1:
        # concurrency is measured at the concurrency named, never multiplied by a scale factor
        peak_row = g.loc[g["active_users"].idxmax()]
        verdicts.append(unverified(
            "peak", "active users served",
            f"the target saw at most {int(peak_row['active_users']):,} active users (1:{run.info.scale:g}); "
            f"concurrency is measured, never multiplied: play the peak at 1:1 to verify "
            f"{gate.target_active_users:,}", "active_users", gate.target_active_users, "users"))
    elif len(g) and g["active_users"].notna().any():
        peak_row = g.loc[g["active_users"].idxmax()]
        served = float(peak_row["active_users"]) * run.info.scale
        verdicts.append(judged("peak", "active users served", served, gate.target_active_users, "users",
                               served >= gate.target_active_users,
                               [Evidence(float(peak_row["t"]), f"{served:,.0f} active users "
                                         f"({peak_row['active_users']} at 1:{run.info.scale:g})")], "active_users"))
    else:
        verdicts.append(unverified("peak", "active users served", f"no gauges in the {gate.window} window",
                                   "active_users", gate.target_active_users, "users"))
    for action, rows in q.groupby("action"):
        slo = gate.p95_for(str(action))
        if slo is None:
            continue
        if run.rolled_up:
            busy = rows[(rows["count"] > 0) & rows["latency_p95"].notna()]
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
        ok = None if p95 is None or p95 != p95 else p95 <= slo * 1000
        if ok and partial:
            ok, evidence = None, [Evidence(None, f"p95 {p95:,.0f} ms{at}: a pass below the peak proves nothing "
                                                 "about it")]
        verdicts.append(judged("peak", f"p95 {action}", p95, slo * 1000, "ms", ok, evidence, "p95"))
    if not any(v.slug == "p95" for v in verdicts):
        verdicts.append(unverified("peak", "p95 per action", f"no answered request in the {gate.window} window",
                                   "p95", unit="ms"))
    weights = _weights(run, q)
    total = float(weights.sum())
    broken = ~q["ok"] & ~q["refused"]
    errors = float(weights[broken].sum())
    rate = errors / total if total else None
    first = q[broken].head(3)
    ok = None if rate is None else rate <= gate.error_rate_max
    evidence = ([Evidence(float(r.t), f"{r.action}: {r.error or r.status}") for r in first.itertuples()]
                or ([] if total else [Evidence(None, f"no answered request in the {gate.window} window")]))
    if ok and partial:
        ok, evidence = None, [Evidence(None, f"{rate:.2%} errors{at}: a pass below the peak proves nothing about it")]
    verdicts.append(judged("peak", "error rate", rate, gate.error_rate_max, "share", ok, evidence, "error_rate"))
    return verdicts


# --- link-ban failover --------------------------------------------------------------------

def _bans(run: Run) -> list[tuple[float, str]]:
    bans = run.events[run.events["kind"] == "ban"]
    return [(float(r.t), str(r.detail).split(":")[0].strip()) for r in bans.itertuples()]


def _run_end(run: Run) -> float:
    """The last campaign time the run observed."""
    ends = [float(frame["t"].max()) for frame in (run.requests, run.gauges, run.events) if len(frame)]
    return max(ends) if ends else float("-inf")


def keeps_wall_clock(run: Run) -> bool:
    """Whether the run's target kept its own (wall) clock: the contract maps no set_clock, or the
    target refused it."""
    return run.info.extra.get("target_clock") == "wall" or bool((run.events["kind"] == "clock_refused").any())


def target_seconds_per_campaign_second(run: Run) -> float:
    """How a time span in the run's campaign seconds reads on the target's own clock: the same
    when the target follows the harness's campaign clock (or for the simulator), 1/compress
    when it keeps the wall clock (its failover timers run in real time, so they are judged so)."""
    return 1.0 / run.info.compress if keeps_wall_clock(run) and run.info.compress > 0 else 1.0



def _links_off(run: Run, scenario: Scenario, ban_t: float, domain: str, shares: pd.DataFrame,
               earlier: EarlierBan | None = None, ban_wall=None) -> Verdict:
    """Seconds from the ban until no new link used the domain, from the links the target issued
    (a live run) or the simulator's failover event. Links after the last one on the banned
    domain must show it out of rotation: at least one round of the whole pool. Judged on the
    target's clock: real seconds for a target that keeps the wall clock, counted from the first
    ban of the domain where an earlier phase of the rehearsal banned it already (`earlier`)."""
    # a ban needs share links, and share links a failover gate (the scenario's validation)
    assert scenario.gates.failover is not None and scenario.links is not None
    limit = scenario.gates.failover.max_seconds
    name, slug = f"links off {domain}", "links_off"
    banned = [Evidence(ban_t, f"{domain} banned")]
    scale = target_seconds_per_campaign_second(run)
    head_start = 0.0  # real seconds the target had had since an earlier phase's ban of the domain
    if keeps_wall_clock(run) and earlier is not None and ban_wall is not None and earlier.at < ban_wall:
        head_start = (ban_wall - earlier.at).total_seconds()
        banned.append(Evidence(None, f"first banned in the {earlier.phase} phase, {head_start:,.0f} s before: "
                                     "counted from then"))
    if scale != 1.0 or keeps_wall_clock(run):
        banned.append(Evidence(None, "in real seconds: the target keeps its own (wall) clock"))
    if not run.rolled_up and not len(shares) and run.info.live:
        return judged("failover", name, None, limit, "s", None,
                      banned + [Evidence(None, "no share link was issued in the run: nothing shows which domains it used")],
                      slug)
    if len(shares):
        # after an earlier phase's ban, every link this run saw on the domain came after a ban
        later = shares[(shares["domain"] == domain) & ((shares["t"] > ban_t) | (head_start > 0))]
        last_on_it = float(later["t"].max()) if len(later) else ban_t
        seconds = (last_on_it - ban_t) * scale + (head_start if len(later) else 0.0)
        if seconds > limit:
            return judged("failover", name, seconds, limit, "s", False, banned + [Evidence(
                float(later["t"].max()), f"{len(later)} links issued on it after the ban, the last {seconds:,.0f} s after")],
                slug)
        after = shares[shares["t"] > last_on_it]
        needed = LINKS_PER_DOMAIN * len(scenario.links.primary_domains)
        seen = Evidence(float(later["t"].max()) if len(later) else ban_t,
                        f"{len(later)} links issued on it after the ban, then {len(after)} on other domains")
        if len(after) < needed:
            open_s = (_run_end(run) - ban_t) * scale
            verdict = judged("failover", name, None, limit, "s", None, banned + [seen, Evidence(
                None, f"only {len(after)} links issued after that ({needed} needed to show it out of rotation), "
                      f"{open_s:,.0f} s of the run left after the ban"
                      + (f": less than the {limit:,.0f} s the target may take" if open_s < limit else ""))], slug)
            # the run ended within the promise: this ban could not be judged, whatever the target did
            return replace(verdict, out_of_time=open_s < limit)
        return judged("failover", name, seconds, limit, "s", True, banned + [seen], slug)
    failovers = run.events[run.events["kind"] == "failover"]
    moved = failovers[failovers["detail"].str.startswith(domain) & (failovers["t"] >= ban_t)]
    if len(moved):
        seconds = float(moved["t"].iloc[0] - ban_t) * scale
        return judged("failover", name, seconds, limit, "s", seconds <= limit,
                      banned + [Evidence(float(moved["t"].iloc[0]), str(moved["detail"].iloc[0]))], slug)
    watched = (_run_end(run) - ban_t) * scale
    return judged("failover", name, None, limit, "s", None if watched <= limit else False,
                  banned + [Evidence(None, f"never replaced in the {watched:,.0f} s the run went on")], slug)


def failover_gate(run: Run, scenario: Scenario, banned_before: dict[str, EarlierBan] | None = None) -> list[Verdict]:
    """For each ban: time until no new link used the domain; visits lost; the pool never empty.
    Not applicable to a campaign that issues no share links. `banned_before`: the domains earlier
    phases against the same target banned (a failover counts from the first ban)."""
    gate = scenario.gates.failover
    if scenario.links is None:
        why = scenario.not_applicable()["failover.links_off"]
        return [not_applicable("failover", "links off banned domains", why, "links_off"),
                not_applicable("failover", "visits lost to bans", why, "visits_lost"),
                not_applicable("failover", "backup pool never empty", why, "pool_never_empty")]
    assert gate is not None  # share links come with a failover gate (the scenario's validation)
    q = run.requests
    shares = q[(q["action"] == "share") & q["ok"] & (q["domain"] != "")]
    bans = _bans(run)
    walls = ban_walls(run) if banned_before else []
    verdicts = [_links_off(run, scenario, ban_t, domain, shares, (banned_before or {}).get(domain),
                           walls[n][1] if n < len(walls) else None) for n, (ban_t, domain) in enumerate(bans)]
    no_ban = "no domain was banned in this run"
    with_a_ban = ("a run against the target with a domain ban in it (the main job bans one; rehearse swarm --ban-at "
                  f"TIME), long enough after the ban for the failover promise ({gate.max_seconds:g} s)")
    if not bans:
        verdicts.append(unverified("failover", "links off banned domains", no_ban, "links_off", gate.max_seconds, "s",
                                   to_verify=with_a_ban))
    weights = _weights(run, q)
    visits = float(weights[q["action"].isin(VISITS)].sum())
    lost_rows = q[q["error"] == "link_banned"]
    lost = float(weights[q["error"] == "link_banned"].sum())
    share = lost / visits if visits and bans else None
    verdicts.append(judged("failover", "visits lost to bans", share, gate.max_lost_visits_share, "share",
                           None if share is None else share <= gate.max_lost_visits_share,
                           [Evidence(float(r.t), f"{r.persona} lost on a banned link") for r in lost_rows.head(3).itertuples()]
                           or [Evidence(None, no_ban if not bans else ("no visit in the run" if not visits
                                                                       else f"{visits:,.0f} visits, none lost"))],
                           "visits_lost", to_verify=with_a_ban if not bans else ""))
    if gate.pool_never_empty:
        pool = _pool_never_empty(run, gate.max_seconds, bans, shares)
        verdicts.append(replace(pool, to_verify=with_a_ban) if pool.status == "unverified" and not bans else pool)
    return verdicts


def _pool_never_empty(run: Run, max_seconds: float, bans: list[tuple[float, str]], shares: pd.DataFrame) -> Verdict:
    """After a ban, the backend still had a domain for every share link asked for. From the
    harness's rows (share requests after the first ban that got no link) and the simulator's
    pool events; a target's own report of an empty pool fails it too, its report of a healthy
    one proves nothing."""
    name, slug = "backup pool never empty", "pool_never_empty"
    empty_events = run.events[run.events["kind"] == "pool_exhausted"]
    evidence = [Evidence(float(r.t), str(r.detail)) for r in empty_events.head(3).itertuples()]
    evidence += [Evidence(start, f"no healthy domain for {seconds:,.0f} s")
                 for start, seconds in _without_domains(run.gauges) if seconds > max_seconds]
    if not bans:
        return judged("failover", name, float(len(evidence)) if evidence else None, 0, "times",
                      False if evidence else None, evidence or [Evidence(None, "no domain was banned in this run: "
                                                                                "the backup pool was never called on")],
                      slug)
    first_ban = min(t for t, _ in bans)
    q = run.requests
    asked = q[(q["action"] == "share") & (q["t"] > first_ban) & (q["error"] != UNANSWERED)]
    if not run.rolled_up and run.info.live:
        unserved = asked[(~asked["ok"] & ~asked["refused"]) | (asked["ok"] & (asked["domain"] == ""))]
        evidence += [Evidence(float(r.t), f"a share link asked for got none: {r.error or r.status or 'no link'}")
                     for r in unserved.head(3).itertuples()]
        if not len(asked) and not evidence:
            return unverified("failover", name, "no share link was asked for after the ban", slug, 0, "times")
    elif not evidence and ("healthy_domains" not in run.gauges or run.gauges["healthy_domains"].isna().all()):
        return unverified("failover", name, "the run keeps neither share links nor the pool's gauges", slug, 0,
                          "times")
    return judged("failover", name, float(len(evidence)), 0, "times", not evidence,
                  evidence or [Evidence(None, f"{len(asked):,} share requests after the first ban, each given a link"
                                        if len(asked) else "the pool never ran empty")], slug)


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


# --- the campaign's rules -----------------------------------------------------------------

def rules_gate(run: Run, scenario: Scenario) -> list[Verdict]:
    """Preheat closed, no envelope before any task, share caps held, flagged numbers refused.
    The caps and locks are the campaign's participants' rules, judged on them: the harness's own
    participants (probers, racers) are left out; its early birds and flagged numbers are there to
    test the preheat and the flags, and are judged on those."""
    q = run.requests
    verdicts = []
    early = q[(q["t"] < 0) & q["action"].isin(PARTICIPATION)]
    taken = early[early["ok"]]
    verdicts.append(judged("rules", "no taking part in preheat", float(_weights(run, taken).sum()), 0, "actions",
                           None if not len(early) else not len(taken),
                           [Evidence(float(r.t), f"{r.action} accepted for {r.persona}") for r in taken.head(3).itertuples()]
                           or [Evidence(None, f"{int(_weights(run, early).sum())} attempts in preheat")],
                           "preheat_closed"))
    if run.rolled_up:  # the rules below need one row per action
        why = "a rolled-up run keeps no participants"
        return verdicts + [unverified("rules", "locked envelopes refused", why, "envelopes_locked"),
                           unverified("rules", "share cap held", why, "share_cap"),
                           unverified("rules", "virtual and blacklisted numbers refused", why,
                                      "flagged_numbers_refused")]
    campaign_own = q[~q["persona"].isin(HARNESS_PERSONAS) & ~q["user_id"].str.startswith(HARNESS_KEY_PREFIX)]
    verdicts.append(_envelope_before_tasks(campaign_own, scenario))
    cap = scenario.campaign.caps.shares_per_user
    shares = campaign_own[(campaign_own["action"] == "share") & campaign_own["ok"]].groupby("user_id").size()
    over = shares[shares > cap]
    verdicts.append(judged("rules", "share cap held", float(shares.max()) if len(shares) else None, cap, "links",
                           None if not len(shares) else not len(over),
                           [Evidence(None, f"{user}: {n} links") for user, n in over.head(3).items()]
                           or [Evidence(None, "nobody was given a share link" if not len(shares)
                                        else f"{len(shares):,} sharers, none over the cap")], "share_cap"))
    flagged = q[(q["action"] == "login") & q["user_id"].str.contains(r"\+(?:virtual|blacklisted)", regex=True)]
    let_in = flagged[flagged["ok"]]
    verdicts.append(judged("rules", "virtual and blacklisted numbers refused", float(len(let_in)), 0, "logins",
                           None if not len(flagged) else not len(let_in),
                           [Evidence(float(r.t), f"{r.user_id} logged in") for r in let_in.head(3).itertuples()]
                           or [Evidence(None, "no virtual or blacklisted number tried to log in" if not len(flagged)
                                        else f"{len(flagged):,} logins of flagged numbers, all refused")],
                           "flagged_numbers_refused"))
    return verdicts


def _envelope_before_tasks(q: pd.DataFrame, scenario: Scenario) -> Verdict:
    """An envelope locked behind tasks, paid to someone who had completed no task yet, can only
    be a broken lock (an institution without tasks has an open envelope)."""
    tasks = q[(q["action"] == "complete_task") & q["ok"]].groupby("user_id")["t"].min()
    opens = q[(q["action"] == "open_envelope") & q["ok"]]
    open_anyway = [i.id for i in scenario.campaign.institutions if not i.tasks]
    if open_anyway:
        opens = opens[~opens["prize"].isin(open_anyway)]
    first_task = opens["user_id"].map(tasks).astype(float).fillna(np.inf)
    early = opens[opens["t"] < first_task]
    return judged("rules", "locked envelopes refused", float(len(early)), 0, "envelopes",
                  None if not len(opens) else not len(early),
                  [Evidence(float(r.t), f"{r.user_id} paid before any task") for r in early.head(3).itertuples()]
                  or [Evidence(None, "no envelope was opened" if not len(opens) else f"{len(opens):,} envelopes opened, "
                                                                                      "each after a task")],
                  "envelopes_locked")
