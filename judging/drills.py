"""Judging a drill: a pure function of (observations, scenario, drill name) -> DrillResult.

Like the gates, it reads only the run folder (contract 3), so a simulated drill and a live one
are judged the same way:

- the timeline: the incidents the harness injected (events `incident`), when they were noticed
  (`ban`, `alarm`, `throttle`, `pause`, `budget_exhausted` events, or the alarm level rising in
  the gauges), and what the system did (`failover`, `pool_exhausted`, `topup`, `resume`);
- each expected response, with its deadline met or missed (verdicts with evidence);
- the steady state: the launch gates the drill names, judged on the drill's window only.

The drill passes when nothing fails and at least one check passed; a run that holds nothing
to judge (it did not cover the window) is `inconclusive`, never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from rehearse.observations import Run
from rehearse.personas.steps import THROTTLED
from rehearse.judging.gates import all_gates, failover_gate
from rehearse.judging.load import bucket_seconds
from rehearse.judging.payouts import Payouts, money_left, pool_caps, topups_seen
from rehearse.judging.verdicts import EXIT_CODE, Evidence, Verdict, judged
from rehearse.scenarios import Scenario
from rehearse.scenarios.drills import Drill, find_drill, window_of
from rehearse.scenarios.rules import PAYOUT_ACTIONS
from rehearse.scenarios.traffic import Window

MomentPhase = Literal["incident", "noticed", "system", "deadline met", "deadline missed"]
NOTICED: dict[str, MomentPhase] = {
    "ban": "noticed", "alarm": "noticed", "throttle": "noticed", "pause": "noticed",
    "budget_exhausted": "noticed", "target_down": "noticed",
    "failover": "system", "pool_exhausted": "system", "topup": "system", "resume": "system"}
DrillStatus = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class Moment:
    """One line of the timeline: campaign time, what kind of moment, what happened."""

    t: float
    phase: MomentPhase
    detail: str


@dataclass(frozen=True)
class DrillResult:
    name: str
    drill: Drill
    start: float
    end: float
    engine: str
    timeline: tuple[Moment, ...]
    responses: tuple[Verdict, ...]
    steady_state: tuple[Verdict, ...]
    status: DrillStatus = field(default="inconclusive")

    @property
    def exit_code(self) -> int:
        return EXIT_CODE[self.status]  # 0 pass, 1 fail, 3 inconclusive

    def as_dict(self) -> dict:
        return {"drill": self.name, "title": self.drill.title, "description": self.drill.description,
                "engine": self.engine, "window": {"start": self.start, "end": self.end},
                "status": self.status,
                "timeline": [{"t": m.t, "phase": m.phase, "detail": m.detail} for m in self.timeline],
                "responses": [v.as_dict() for v in self.responses],
                "steady_state": [v.as_dict() for v in self.steady_state]}


def judge_drill(run: Run, scenario: Scenario, name: str) -> DrillResult:
    """The drill's timeline, responses and steady state on a run folder that played it."""
    drill = find_drill(scenario, name)
    start, duration = window_of(drill, scenario.traffic.windows)
    end = start + duration
    window = _within(run, start, end)
    played = window.events[window.events["kind"].isin(["incident", "incident_failed"])]
    responses = [_played(drill, played)]
    # a response may come after the window, within its deadline: judged on what the run holds
    later = _within(run, start, end + max(r.within for r in drill.expect))
    for response in drill.expect:
        responses += _RESPONSES[response.kind](later, scenario, drill, response.within, start, end)
    steady = _steady_state(window, scenario, drill, start, duration)
    every = responses + steady
    status: DrillStatus = ("fail" if any(v.failed for v in every)  # an advisory check's fail is shown, never failing
                           else "pass" if any(v.status == "pass" for v in every) else "inconclusive")
    return DrillResult(name=name, drill=drill, start=start, end=end, engine=run.info.engine,
                       timeline=tuple(_timeline(later, responses)), responses=tuple(responses),
                       steady_state=tuple(steady), status=status)


def _within(run: Run, start: float, end: float) -> Run:
    """The run cut to the drill's window. The target's final ledger is kept (what it admits, e.g.
    a pool below zero, stands); its opening one only if no request was cut away, since the books'
    figures between the two cover the whole run and the rows only the window."""
    def cut(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[(frame["t"] >= start) & (frame["t"] < end)]

    requests = cut(run.requests)
    events = run.events[((run.events["t"] >= start) & (run.events["t"] < end)) | (run.events["kind"] == "ledger")]
    if len(requests) < len(run.requests):
        events = events[events["kind"] != "ledger_start"]
    return Run(info=run.info, requests=requests, gauges=cut(run.gauges), events=events, rolled_up=run.rolled_up)


def _played(drill: Drill, played: pd.DataFrame) -> Verdict:
    """Every incident of the drill was injected (an `incident` event in the window, and no
    `incident_failed`: the target refused to play it, e.g. an operation it does not map)."""
    wanted = len(drill.incidents)
    done = int((played["kind"] == "incident").sum())
    failed = played[played["kind"] == "incident_failed"]
    return judged("drill", "incidents injected", float(done - len(failed)), wanted, "incidents",
                  done >= wanted and not len(failed),
                  [Evidence(float(r.t), str(r.detail)) for r in played.itertuples()]
                  or [Evidence(None, "no incident event in the drill's window: was the drill played?")])


# --- expected responses -------------------------------------------------------------------

def _failover(run: Run, scenario: Scenario, drill: Drill, within: float, start: float, end: float) -> list[Verdict]:
    """Each ban in the window: no new link on the domain within the deadline (the failover gate's
    own measure, from share rows or failover events, held to the drill's deadline)."""
    assert scenario.gates.failover is not None  # a ban drill needs share links, and they a failover gate
    strict = scenario.model_copy(update={"gates": scenario.gates.model_copy(update={
        "failover": scenario.gates.failover.model_copy(update={"max_seconds": within})})})
    ev = run.events
    in_window = Run(info=run.info, requests=run.requests, gauges=run.gauges, rolled_up=run.rolled_up,
                    events=ev[(ev["kind"] != "ban") | (ev["t"] < end)])
    observed_until = max([float(f["t"].max()) for f in (run.requests, run.gauges) if len(f)], default=end)
    verdicts = []
    for v in failover_gate(in_window, strict):
        if v.slug != "links_off":
            continue
        banned_t = v.evidence[0].t if v.evidence else None
        if v.figure is None and banned_t is not None and banned_t + within > observed_until:
            v = judged(v.gate, v.check, None, within, "s", None, [*v.evidence, Evidence(
                None, "the deadline falls after the run ended: nothing to judge")])
        verdicts.append(Verdict("response", f"failover: {v.check}", v.status, v.figure, within, "s", v.evidence,
                                "failover"))
    return verdicts


def _alarm(run: Run, scenario: Scenario, drill: Drill, within: float, start: float, end: float) -> list[Verdict]:
    """Once payouts run ahead of plan by the warning ratio during a wave, the alarm within the deadline."""
    rule = scenario.budget.fund_loss
    monitor = scenario.fund_loss_plan()
    if rule is None or monitor is None:  # refused when the scenario is loaded; kept for a run judged later
        return [judged("response", "fund-loss alarm", None, within, "s", None,
                       [Evidence(None, "the campaign has no fund-loss alarm (budget.fund_loss is left out)")])]
    wave = min(start + i.at for i in drill.incidents if i.kind == "fraud_wave")
    g = run.gauges[(run.gauges["t"] >= wave) & run.gauges["paid_fen"].notna()]
    ahead = [float(r.t) for r in g.itertuples()
             if monitor.read(float(r.t), int(r.paid_fen)).ratio >= rule.warning_ratio]
    if not ahead:
        return [judged("response", "fund-loss alarm", None, within, "s", None,
                       [Evidence(None, f"payouts never ran {rule.warning_ratio:g}x ahead of plan after "
                                       "the wave began: nothing to alarm on")])]
    trigger = ahead[0]
    alarms = run.events[(run.events["kind"] == "alarm") & (run.events["t"] >= wave)]["t"].tolist()
    levels = run.gauges[(run.gauges["t"] >= wave) & (run.gauges["alarm_level"].fillna(0) >= 1)]["t"].tolist()
    raised = min(alarms + levels) if alarms or levels else None
    took = None if raised is None else max(0.0, raised - trigger)
    evidence = [Evidence(trigger, f"payouts {rule.warning_ratio:g}x ahead of plan")]
    evidence.append(Evidence(raised, "fund-loss alarm raised") if raised is not None
                    else Evidence(None, "no alarm by the end of the window"))
    return [judged("response", "fund-loss alarm", took, within, "s",
                   took is not None and took <= within, evidence)]


def _payouts_resume(run: Run, scenario: Scenario, drill: Drill, within: float, start: float,
                    end: float) -> list[Verdict]:
    """A pool cut by the drill ran out: its top-up within the deadline, and a payout from it after
    the top-up (payouts did resume). When it ran out is the harness's own evidence: the simulator's
    ledger, or in a live run the rows (`_refused_when_out`); the target's books saying it is empty
    (the operator's `budget_exhausted` event) only start the operator's clock for the top-up."""
    verdicts = []
    ev = run.events
    for incident in (i for i in drill.incidents if i.kind == "delayed_topup"):
        at = start + incident.at
        pool = incident.pool
        if run.rolled_up:
            ran_out = ev[(ev["kind"] == "budget_exhausted") & ev["detail"].str.startswith(pool) & (ev["t"] >= at)]
            out = ran_out["t"].tolist()
        else:
            out = _refused_when_out(run, scenario, pool, at)
        check = f"payouts resume: {pool}"
        if not out:
            verdicts.append(judged("response", check, None, within, "s", None,
                                   [Evidence(None, f"the {pool} pool never ran out in the window")]))
            continue
        ran_out = min(out)
        topups = ev[(ev["kind"] == "topup") & ev["detail"].str.startswith(pool) & (ev["t"] >= ran_out)]
        came = float(topups["t"].iloc[0]) if len(topups) else None
        took = None if came is None else came - ran_out
        evidence = [Evidence(ran_out, f"the {pool} pool ran out: payouts refused"),
                    Evidence(came, str(topups["detail"].iloc[0])) if came is not None
                    else Evidence(None, f"no top-up of {pool} by the end of the window")]
        passed = took is not None and took <= within
        if passed:  # the top-up came in time: did the pool pay again?
            paid = Payouts.of(run).paid
            after = paid[(paid["prize"] == pool) & (paid["t"] >= came)]
            asked = run.requests[(run.requests["prize"] == pool) & run.requests["action"].isin(PAYOUT_ACTIONS)
                                 & (run.requests["t"] >= came)]
            if len(after):
                evidence.append(Evidence(float(after["t"].min()), f"paid from {pool} again"))
            else:
                passed = False if len(asked) else None
                evidence.append(Evidence(None, f"{len(asked):,} payouts from {pool} asked after the top-up, none paid"
                                         if len(asked) else f"no payout from {pool} was asked after the top-up"))
        verdicts.append(judged("response", check, took, within, "s", passed, evidence))
    return verdicts


def _refused_when_out(run: Run, scenario: Scenario, pool: str, at: float) -> list[float]:
    """When payouts from `pool` were refused after `at` while the harness's own reckoning
    (payouts.money_left: the cut, the top-ups seen, what it saw paid) said the pool could no
    longer pay its largest amount: judged from the rows whatever the target calls its refusal
    (an operator reading the books adds a `budget_exhausted` event too). A rate limit, or a
    refusal of someone already paid from the pool, is not the pool running out."""
    if run.rolled_up:  # the simulator's own ledger says when a pool ran out (its events)
        return []
    paid = Payouts.of(run).paid
    caps, topups = pool_caps(run), topups_seen(run)
    largest = scenario.largest_payouts().get(pool, 1)
    budget = scenario.pool_budgets().get(pool, 0)
    q = run.requests
    refused = q[(q["prize"] == pool) & q["action"].isin(PAYOUT_ACTIONS) & q["refused"] & (q["t"] >= at)
                & ~q["error"].str.startswith(THROTTLED)].sort_values("t")
    first_paid = paid[paid["prize"] == pool].groupby("user_id")["t"].min().to_dict()
    refused = refused[[not first_paid.get(user, float("inf")) < t for user, t in zip(refused["user_id"], refused["t"])]]
    times = [float(t) for t in refused["t"]]
    return [t for t, left in zip(times, money_left(pool, times, budget, topups, caps, paid)) if left < largest]


def _recovery(run: Run, scenario: Scenario, drill: Drill, within: float, start: float, end: float) -> list[Verdict]:
    """After each slowdown: the slowed actions' p95 back under the SLO within the deadline."""
    verdicts = []
    width = bucket_seconds(run)
    for incident in (i for i in drill.incidents if i.kind == "slowdown"):
        slow_start, slow_end = start + incident.at, start + incident.at + incident.duration
        for action in incident.actions:
            slo = scenario.gates.peak.p95_for(action)
            check = f"recovery: p95 {action}"
            p95 = _p95_per_bucket(run, action, slow_start, width)
            after = p95[p95.index >= slow_end - width]
            if slo is None or not len(after):
                why = "no SLO for it in gates.peak.p95" if slo is None else "no requests after the slowdown"
                verdicts.append(judged("response", check, None, within, "s", None, [Evidence(None, why)]))
                continue
            over = p95[p95 > slo * 1000]
            ended = Evidence(slow_end, "the slowdown ends")
            worst = Evidence(float(p95.idxmax()), f"worst p95 {p95.max():,.0f} ms (SLO {slo * 1000:,.0f} ms)")
            if not len(over):
                verdicts.append(judged("response", check, 0.0, within, "s", True,
                                       [ended, worst, Evidence(None, "p95 stayed under the SLO")]))
                continue
            last_over = float(over.index.max())
            if last_over >= float(after.index.max()):
                verdicts.append(judged("response", check, None, within, "s", False,
                                       [ended, worst, Evidence(last_over, f"p95 {over.iloc[-1]:,.0f} ms: still "
                                                                          "over the SLO at the end of the run")]))
                continue
            back = last_over + width
            took = max(0.0, back - slow_end)
            verdicts.append(judged("response", check, took, within, "s", took <= within,
                                   [ended, worst, Evidence(back, "p95 back under the SLO")]))
    return verdicts


def _p95_per_bucket(run: Run, action: str, since: float, width: float) -> pd.Series:
    """p95 latency (ms) of one action per bucket from `since`, indexed by bucket start."""
    q = run.requests[(run.requests["action"] == action) & (run.requests["t"] >= since)]
    if run.rolled_up:
        q = q[q["count"] > 0]
        key = since + ((q["t"] - since) // width) * width
        return q.groupby(key)["latency_p95"].max().sort_index()
    served = q[~q["refused"]] if (~q["refused"]).any() else q
    key = since + ((served["t"] - since) // width) * width
    return served.groupby(key)["latency_ms"].quantile(0.95).sort_index()


_RESPONSES = {"failover": _failover, "alarm": _alarm, "payouts_resume": _payouts_resume, "recovery": _recovery}


# --- steady state and timeline ------------------------------------------------------------

def _steady_state(run: Run, scenario: Scenario, drill: Drill, start: float, duration: float) -> list[Verdict]:
    """The named gates on the drill's window (the peak gate's SLOs judged there; its capacity
    target belongs to the launch hour, not to a drill)."""
    if not drill.steady_state:
        return []
    windows = {**scenario.traffic.windows, "drill": Window(start=start, duration=duration)}
    here = scenario.model_copy(update={
        "traffic": scenario.traffic.model_copy(update={"windows": windows}),
        "gates": scenario.gates.model_copy(update={"peak": scenario.gates.peak.model_copy(update={"window": "drill"})})})
    answered = {r.kind for r in drill.expect}
    wanted = set(drill.steady_state)
    return [v for v in all_gates(run, here)
            if (v.gate in wanted or v.key in wanted)
            and v.key != "peak.active_users"
            and not ("failover" in answered and v.key == "failover.links_off")]  # a response's own


def _timeline(run: Run, responses: list[Verdict]) -> list[Moment]:
    """Incidents, what noticed them, what the system did, and each deadline, in time order."""
    moments = []
    for r in run.events.itertuples():
        if r.kind in ("incident", "incident_failed"):
            prefix = "" if r.kind == "incident" else "could not be played: "
            moments.append(Moment(float(r.t), "incident", prefix + str(r.detail)))
        elif r.kind in NOTICED:
            moments.append(Moment(float(r.t), NOTICED[r.kind], f"{r.kind}: {r.detail}"))
    if "alarm_level" in run.gauges and not (run.events["kind"] == "alarm").any():
        level = run.gauges[["t", "alarm_level"]].dropna()
        rises = level[level["alarm_level"].diff().fillna(level["alarm_level"]) > 0]
        moments += [Moment(float(r.t), "noticed", f"alarm: fund-loss alarm level {int(r.alarm_level)} (gauges)")
                    for r in rises.itertuples()]
    for v in responses:
        if v.gate != "response" or v.status == "unverified":
            continue
        # at the trigger (the first evidence) plus what it took, or plus the deadline if never
        trigger = next((e.t for e in v.evidence if e.t is not None), None)
        if trigger is None or v.limit is None:  # a response's limit: its deadline, always given
            continue
        took = "never" if v.figure is None else f"after {v.figure:,.0f} s"
        phase: MomentPhase = "deadline met" if v.status == "pass" else "deadline missed"
        moments.append(Moment(trigger + (v.limit if v.figure is None else v.figure), phase,
                              f"{v.check}: {took} (deadline {v.limit:,.0f} s)"))
    order = {"incident": 0, "noticed": 1, "system": 2, "deadline met": 3, "deadline missed": 3}
    return sorted(moments, key=lambda m: (m.t, order[m.phase]))


def timeline_frame(result: DrillResult) -> pd.DataFrame:
    """The timeline as a table (t, phase, detail), for the run folder's events-like file."""
    return pd.DataFrame({"t": np.array([m.t for m in result.timeline], dtype=float),
                         "phase": [m.phase for m in result.timeline],
                         "detail": [m.detail for m in result.timeline]})
