"""The whole campaign in campaign time: arrivals, journeys, the backend's queues, the platform
and the budget, ending in observations (contract 3, requests rolled up per bucket).

    result = simulate(load_scenario(), seed=7)
    result.summary["participants_24h"], result.gauges, result.requests, result.events
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rehearse.scenarios import Scenario
from rehearse.scenarios.rules import prize_of
from rehearse.scenarios.target import ACTIONS
from rehearse.simulator.arrivals import (
    FRAUD, INVITED, INVITEE, NORMAL, ORGANIC, PERSONAS, PREHEAT_VISIT, RETURNED, SHARER,
    Participants, generate, with_fraud_surges,
)
from rehearse.simulator.incidents import Disturbances
from rehearse.simulator.journeys import OK, REFUSED, Actions, build_library, expand
from rehearse.simulator.ledger import EXHAUSTED, PAID, PAUSED, THROTTLED, run_ledger
from rehearse.simulator.platform import run_platform
from rehearse.simulator.queueing import ActionQueues

BUCKET_S = 60.0
BROKEN = 2  # an action that timed out or could not be served
LIBRARY_SIZE = {"normal": 3000, "sharer": 1500, "fraud_script": 1500, "invitee": 1500, "preheat_browser": 800}
A = {name: code for code, name in enumerate(ACTIONS)}
PAYOUTS = (A["open_envelope"], A["grand_draw"], A["open_invite_envelope"])
OUTCOME_ERRORS = {"ok": "", "refused": "refused", "broken": "timeout", "throttled": "payout_throttled",
                  "paused": "payouts_paused", "exhausted": "budget_exhausted", "lost": "link_banned"}


@dataclass
class SimulationResult:
    participants: Participants
    requests: pd.DataFrame  # rolled up per bucket (observations.REQUEST_ROLLUP)
    gauges: pd.DataFrame
    events: pd.DataFrame
    summary: dict


def simulate(scenario: Scenario, seed: int, bucket_s: float = BUCKET_S,
             disturbances: Disturbances | None = None) -> SimulationResult:
    """Simulate the whole campaign for one seed (same scenario and seed: same result), with a
    drill's incidents when `disturbances` are given."""
    rng = np.random.default_rng(seed)
    plan = disturbances or Disturbances()
    people = generate(scenario, seed)
    if plan.fraud:
        people = with_fraud_surges(people, plan.fraud, np.random.default_rng(seed + 1))
    buckets = int(np.ceil(scenario.campaign.phases.live_s / bucket_s))
    actions, persona = _actions(scenario, people, seed, rng)
    live = (actions.t >= 0) & (actions.t < buckets * bucket_s)
    actions, persona = _take(actions, live), persona[live]
    bucket = (actions.t // bucket_s).astype(np.int32)
    outcome = actions.outcome.copy()

    # the platform: visits and shares per bucket decide bans; entry visits through banned links are lost
    visits = np.bincount(bucket[(actions.action == A["open_page"]) | (actions.action == A["visit_link"])],
                         minlength=buckets)
    shares = np.bincount(bucket[actions.action == A["share"]], minlength=buckets)
    platform = run_platform(scenario.links, bucket_s, visits.astype(float), shares.astype(float),
                            forced=plan.bans)
    lost_person, entry_row = _lost(people, actions, bucket, platform, rng)
    # a lost visitor's entry visit fails on the banned link; the rest of the journey never happens
    keep = ~lost_person[actions.who]
    keep[entry_row[lost_person]] = True
    actions, persona, bucket, outcome = _take(actions, keep), persona[keep], bucket[keep], outcome[keep]
    lost = lost_person[actions.who]
    outcome[lost] = BROKEN

    # the backend's queues: timed-out actions fail
    queues = ActionQueues.from_scenario(scenario)
    counts = np.bincount(bucket.astype(np.int64) * len(ACTIONS) + actions.action,
                         minlength=buckets * len(ACTIONS)).reshape(buckets, len(ACTIONS))
    p95 = np.zeros((buckets, len(ACTIONS)))
    mean = np.zeros((buckets, len(ACTIONS)))
    backlog = np.zeros(buckets)
    timed_out_share = np.zeros((buckets, len(ACTIONS)))
    for code, name in enumerate(ACTIONS):
        if not counts[:, code].any():
            continue
        figures = queues.latency(name, counts[:, code].astype(float), bucket_s,
                                 plan.service_factor(name, buckets, bucket_s))
        p95[:, code], mean[:, code] = figures.p95_ms, figures.mean_ms
        backlog += figures.backlog
        with np.errstate(divide="ignore", invalid="ignore"):
            timed_out_share[:, code] = np.where(counts[:, code] > 0, figures.timed_out / counts[:, code], 0.0)
    timed_out = _timed_out(rng, timed_out_share, bucket, actions.action) & ~lost
    outcome[timed_out] = BROKEN

    # the budget: payouts in time order, the monitor, the operator
    payout_rows = np.flatnonzero(np.isin(actions.action, PAYOUTS) & (outcome == OK))
    invite_t, invite_who = _invite_rewards(scenario, people, lost_person)
    pay_t = np.concatenate([actions.t[payout_rows], invite_t])
    order = np.argsort(pay_t, kind="stable")
    pay_action = np.concatenate([actions.action[payout_rows], np.full(len(invite_t), A["open_invite_envelope"])])[order]
    pay_who = np.concatenate([actions.who[payout_rows], invite_who])[order]
    pay_inst = np.concatenate([actions.institution[payout_rows], np.full(len(invite_t), -1)])[order]
    pay_t = pay_t[order]
    pool, amount = _amounts(scenario, pay_action, pay_inst, rng)
    fraud = people.persona[pay_who] == FRAUD
    ledger = run_ledger(scenario, bucket_s, buckets, pay_t, pool, amount, fraud, rng, late_topups=plan.topups)

    requests = _rollup(scenario, actions, persona, bucket, outcome, lost, mean, p95, buckets, bucket_s,
                       ledger, amount, order, payout_rows, pay_t)
    gauges = _gauges(people, actions, bucket, buckets, bucket_s, backlog, ledger, platform)
    events = pd.DataFrame(sorted(platform.events + ledger.events + list(plan.events)),
                          columns=["t", "kind", "detail"])
    summary = _summary(scenario, people, gauges, p95, counts, ledger, platform, events, lost_person, bucket_s)
    return SimulationResult(participants=people, requests=requests, gauges=gauges, events=events, summary=summary)


def _timed_out(rng: np.random.Generator, share: np.ndarray, bucket: np.ndarray, action: np.ndarray,
               chunk: int = 1 << 20) -> np.ndarray:
    """Each action row timed out with its (bucket, action) cell's share: one uniform draw a row,
    drawn a chunk at a time (the same draws as one call, without two float arrays of every row)."""
    out = np.empty(len(bucket), dtype=bool)
    for lo in range(0, len(bucket), chunk):
        hi = min(lo + chunk, len(bucket))
        out[lo:hi] = rng.random(hi - lo) < share[bucket[lo:hi], action[lo:hi]]
    return out


def _take(actions: Actions, mask: np.ndarray) -> Actions:
    return Actions(t=actions.t[mask], who=actions.who[mask], action=actions.action[mask],
                   institution=actions.institution[mask], outcome=actions.outcome[mask])


def _actions(scenario: Scenario, people: Participants, seed: int,
             rng: np.random.Generator) -> tuple[Actions, np.ndarray]:
    """Every participant's journey from its persona's library, as one set of action rows."""
    browsing_only = scenario.model_copy(update={"personas": scenario.personas.model_copy(update={
        "preheat_browser": scenario.personas.preheat_browser.model_copy(update={"return_at_launch": 0.0})})})
    groups = [
        ("normal", scenario, (people.persona == NORMAL) | (people.origin == RETURNED), 0.0),
        ("sharer", scenario, people.persona == SHARER, 0.0),
        ("fraud_script", scenario, people.persona == FRAUD, 0.0),
        ("invitee", scenario, people.persona == INVITEE, 0.0),
        ("preheat_browser", browsing_only, people.origin == PREHEAT_VISIT, -86400.0),
    ]
    parts, personas = [], []
    for offset, (name, source, mask, arrival) in enumerate(groups):
        library = build_library(source, name, LIBRARY_SIZE[name], seed * 7 + offset, arrival_t=arrival)
        rows = np.flatnonzero(mask)
        part = expand(library, people.t[rows], rows, rng)
        parts.append(part)
        personas.append(people.persona[part.who])
    actions = Actions(*(np.concatenate([getattr(p, f) for p in parts])
                        for f in ("t", "who", "action", "institution", "outcome")))
    return actions, np.concatenate(personas)


def _lost(people: Participants, actions: Actions, bucket: np.ndarray, platform,
          rng) -> tuple[np.ndarray, np.ndarray]:
    """Participants lost on a banned link (their entry visit fell on a banned domain), and each
    participant's entry-visit row (-1 for none)."""
    entry = np.full(len(people), -1, dtype=np.int64)
    entry_row = np.full(len(people), -1, dtype=np.int64)
    visit = (actions.action == A["open_page"]) | (actions.action == A["visit_link"])
    rows = np.flatnonzero(visit)
    rows = rows[np.argsort(actions.t[rows], kind="stable")]
    first = rows[np.unique(actions.who[rows], return_index=True)[1]]
    entry[actions.who[first]] = bucket[first]
    entry_row[actions.who[first]] = first
    share = np.zeros(len(people))
    has = entry >= 0
    invitee = people.persona == INVITEE
    share[has & ~invitee] = platform.lost_visitors[entry[has & ~invitee]]
    share[has & invitee] = platform.lost_invitees[entry[has & invitee]]
    return (rng.random(len(people)) < share) & (entry_row >= 0), entry_row


def _invite_rewards(scenario: Scenario, people: Participants, lost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A sharer's invite reward when its Nth friend arrives (N = friends_required), up to the cap
    (none without an invite reward)."""
    invite = scenario.campaign.invite
    friends = np.flatnonzero((people.origin == INVITED) & ~lost)
    if invite is None or not len(friends) or invite.max_rewards_per_user == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    sharer_rows = {p: i for i, p in enumerate(people.person) if people.origin[i] == ORGANIC}
    order = np.lexsort((people.t[friends], people.inviter[friends]))
    friends = friends[order]
    inviters = people.inviter[friends]
    rank = np.arange(len(friends)) - np.searchsorted(inviters, inviters)  # 0 for each sharer's first friend
    earned = (rank + 1) % invite.friends_required == 0
    earned &= (rank + 1) // invite.friends_required <= invite.max_rewards_per_user
    at = people.t[friends[earned]] + 60.0
    who = np.array([sharer_rows[p] for p in inviters[earned]], dtype=np.int64)
    return at, who


def _amounts(scenario: Scenario, action: np.ndarray, institution: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The pool and amount (fen) of each payout, drawn from the scenario's distributions."""
    campaign = scenario.campaign
    pools = list(scenario.pool_budgets())
    pool = np.where(action == A["open_envelope"], institution, -1).astype(np.int64)
    amount = np.zeros(len(action), dtype=np.int64)
    for code, inst in enumerate(campaign.institutions):
        mask = (action == A["open_envelope"]) & (institution == code)
        amount[mask] = _draw(inst.envelope, int(mask.sum()), rng)
    if campaign.invite is not None:
        mask = action == A["open_invite_envelope"]
        pool[mask] = pools.index("invite")
        amount[mask] = _draw(campaign.invite.reward, int(mask.sum()), rng)
    if campaign.grand_round is not None:
        draws = np.flatnonzero(action == A["grand_draw"])
        pool[draws] = pools.index("grand")
        amount[draws] = _grand_prizes(campaign.grand_round.prizes, len(draws), rng)
    return pool, amount


def _grand_prizes(prizes, draws: int, rng: np.random.Generator) -> np.ndarray:
    """The amount (fen) each of `draws` grand draws wins, in order; a prize that ran out falls
    back to the last (unlimited) one."""
    won = rng.choice(len(prizes), size=draws, p=np.array([p.probability for p in prizes]))
    for k, prize in enumerate(prizes):
        if prize.count is not None:
            over = (won == k) & (np.cumsum(won == k) > prize.count)
            won[over] = len(prizes) - 1  # that prize ran out: the unlimited fallback
    return np.array([p.amount_fen for p in prizes])[won]


def _draw(distribution, n: int, rng: np.random.Generator) -> np.ndarray:
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if distribution.kind == "uniform":
        return rng.integers(distribution.min_fen, distribution.max_fen + 1, size=n)
    weights = np.array([c.weight for c in distribution.choices])
    return np.array([c.amount_fen for c in distribution.choices])[rng.choice(len(weights), size=n, p=weights / weights.sum())]


def _rollup(scenario, actions, persona, bucket, outcome, lost, mean, p95, buckets, bucket_s,
            ledger, amount, order, payout_rows, pay_t) -> pd.DataFrame:
    """Requests rolled up per (bucket, persona, action and prize, outcome): count, latency, fen
    paid. `order` sorts the payouts (first those of `payout_rows`, then invite rewards) into the
    ledger's time order; the ledger's results are mapped back through it."""
    kinds = list(OUTCOME_ERRORS)
    kind = np.full(len(outcome), 2, dtype=np.int8)  # built in place: one byte a row, not eight
    kind[outcome == OK] = 0
    kind[outcome == REFUSED] = 1
    kind[lost] = kinds.index("lost")
    # ledger results back onto the action rows they came from (invite rewards have no action row)
    from_actions = order < len(payout_rows)
    rows = payout_rows[order[from_actions]]
    results = ledger.result[from_actions]
    for code, name in ((THROTTLED, "throttled"), (PAUSED, "paused"), (EXHAUSTED, "exhausted")):
        kind[rows[results == code]] = kinds.index(name)
    # an envelope's prize is its institution: open_envelope splits into one key per institution
    institutions = [i.id for i in scenario.campaign.institutions]
    envelope = actions.action == A["open_envelope"]
    acted = actions.action.astype(np.int16)
    acted[envelope] = len(ACTIONS) + actions.institution[envelope].astype(np.int16)  # int8 would wrap past 127
    names = np.array(list(ACTIONS) + ["open_envelope"] * len(institutions))
    prizes = np.array([prize_of(a, {}) for a in ACTIONS] + institutions)
    np_, na, nk = len(PERSONAS), len(names), len(kinds)
    key = bucket.astype(np.int64)  # ((bucket * np_ + persona) * na + acted) * nk + kind, in one array
    key *= np_
    key += persona
    key *= na
    key += acted
    key *= nk
    key += kind
    size = buckets * np_ * na * nk
    count = np.bincount(key, minlength=size)
    fen = np.bincount(key[rows], weights=np.where(results == PAID, amount[from_actions], 0), minlength=size)
    del key
    present = np.flatnonzero(count)
    b, rest = np.divmod(present, np_ * na * nk)
    p, rest = np.divmod(rest, na * nk)
    a, k = np.divmod(rest, nk)
    base = np.where(a >= len(ACTIONS), A["open_envelope"], a)  # the action's own column (latency)
    # invite rewards paid by fission (no action row of their own)
    invite = ~from_actions
    invite_b = np.minimum((pay_t[invite] // bucket_s).astype(np.int64), buckets - 1)
    invite_paid = np.where(ledger.result[invite] == PAID, amount[invite], 0)
    frame = pd.DataFrame({
        "t": b * bucket_s, "engine": "simulator", "persona": np.array(PERSONAS)[p],
        "action": names[a], "channel": "", "domain": "",
        "status": np.select([k == 0, k == 1], [200, 409], default=503),
        "ok": k == 0, "refused": np.isin(k, [1, 3, 4, 5, 6]),  # lost on a banned link: the platform refused
        "error": np.array([OUTCOME_ERRORS[x] for x in kinds])[k],
        "count": count[present], "latency_p50": mean[b, base], "latency_p95": p95[b, base],
        "latency_p99": p95[b, base], "payout_fen": fen[present].astype(np.int64), "prize": prizes[a]})
    if invite.any():
        extra = pd.DataFrame({"t": invite_b * bucket_s, "payout_fen": invite_paid}).groupby("t", as_index=False).sum()
        extra = extra.assign(engine="simulator", persona="sharer", action="open_invite_envelope", channel="",
                             domain="", status=200, ok=True, refused=False, error="", count=1, prize="invite",
                             latency_p50=0.0, latency_p95=0.0, latency_p99=0.0)
        frame = pd.concat([frame, extra[frame.columns]], ignore_index=True)
    return frame


def _gauges(people, actions, bucket, buckets, bucket_s, backlog, ledger, platform) -> pd.DataFrame:
    """One row per bucket: active users, arrivals, requests/s, queue, budget, domains, alarm (the
    load generator's own lag and CPU stay empty: a simulation has none)."""
    first = np.full(len(people), buckets, dtype=np.int32)
    last = np.full(len(people), -1, dtype=np.int32)
    np.minimum.at(first, actions.who, bucket)
    np.maximum.at(last, actions.who, bucket)
    seen = last >= 0
    change = np.bincount(first[seen], minlength=buckets + 1) - np.bincount(last[seen] + 1, minlength=buckets + 1)
    active = np.cumsum(change)[:buckets]
    live_arrivals = people.t[(people.t >= 0) & (people.origin != PREHEAT_VISIT)]
    arrivals = np.bincount(np.minimum((live_arrivals // bucket_s).astype(np.int64), buckets - 1), minlength=buckets)
    rps = np.bincount(bucket, minlength=buckets) / bucket_s
    return pd.DataFrame({
        "t": np.arange(buckets) * bucket_s, "active_users": active, "arrivals": arrivals, "rps": rps,
        "queue_depth": np.rint(backlog).astype(np.int64), "budget_left_fen": ledger.left,
        "paid_fen": np.cumsum(ledger.paid), "fraud_paid_fen": np.cumsum(ledger.fraud_paid),
        "healthy_domains": platform.healthy, "banned_domains": platform.banned,
        "alarm_level": ledger.level.astype(np.int64)})  # no load generator: its gauges are written empty


def _summary(scenario, people, gauges, p95, counts, ledger, platform, events, lost_person, bucket_s) -> dict:
    peak = int(gauges["active_users"].idxmax())
    peak_rps = int(gauges["rps"].idxmax())
    paid = int(ledger.paid.sum())
    fraud = int(ledger.fraud_paid.sum())

    def first(kind: str) -> float | None:
        hits = events.loc[events["kind"] == kind, "t"]
        return float(hits.iloc[0]) if len(hits) else None

    return {
        "participants_24h": people.count_live(86400), "participants_total": people.count_live(),
        "peak_active_users": int(gauges["active_users"].iloc[peak]), "peak_active_t": peak * bucket_s,
        "peak_rps": float(gauges["rps"].iloc[peak_rps]), "peak_rps_t": peak_rps * bucket_s,
        "p95_ms_at_peak": float(p95[peak_rps][counts[peak_rps] > 0].max()) if counts[peak_rps].any() else 0.0,
        "paid_fen": paid, "fraud_share": fraud / paid if paid else 0.0,
        "budget_exhausted_t": first("budget_exhausted"), "alarm_t": first("alarm"), "pause_t": first("pause"),
        "bans": int((events["kind"] == "ban").sum()), "pool_exhausted_t": first("pool_exhausted"),
        "users_lost": int(lost_person.sum()),
    }
