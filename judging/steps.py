"""The peak at real concurrency: a step load's steps, each held, broken or limited by the load
generator, and the knee.

A step load (`rehearse swarm --steps`, the main job's peak phase) keeps N of the window's
participants playing in each step, in real time at 1:1, and marks each step with a `step` event.
Each step is judged on its hold (after its ramp) from the harness's own rows and gauges:

- **limited**: the load generator, not the target, set the pace. The load was not delivered:
  for a quarter of the hold's seconds or more, the generator's event loop ran late by more than
  a tenth of the personas' shortest median think time (the pacing it asked for), or
  participants started that late for want of a slot; or fewer than 90 % of the step's
  participants were playing. Or the step broke while the generator's lag reached a tenth of the
  tightest p95 SLO (the latency measured may be its own) or a load process or the machine (which
  a loopback target shares) was at 90 % CPU: the break is not the target's to own. Neither a
  pass nor a fail of the target: "add workers, or a machine for the load".
- **broke**: p95 of an action over its SLO, or the error rate over its limit.
- **held**: the SLOs held at that concurrency.

The knee is the highest step held with every step below it held. The verdict is knee >= the
peak gate's target; a step at or below the target that broke fails it; a limited step before
the target leaves it not verified, with what was reached.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import pandas as pd

from rehearse.observations import Run
from rehearse.judging.verdicts import Evidence, Verdict, judged, unverified
from rehearse.scenarios import Scenario

SETTLE_S = 7.0  # a step's ramp (5 s) and a little more: the hold is judged after it
CPU_LIMIT = 90.0  # percent: a load process, or the machine, this busy limits the step
PLAYING_SHARE = 0.9  # fewer of the step's participants playing than this: the step was not reached
LAG_SHARE = 0.1  # the generator's lag may reach a tenth of the think times, or of the tightest SLO
SUSTAINED_SHARE = 0.25  # a gauge over its limit for this share of a hold's seconds limits the step


@dataclass(frozen=True)
class Step:
    """One step of a step load, as measured on its hold."""

    index: int
    target: int  # participants to keep playing
    start: float  # campaign seconds: the hold's start and end
    end: float
    active: float  # mean participants playing (gauges)
    rps: float
    requests: int
    p95_ms: dict[str, float] = field(default_factory=dict)
    error_rate: float | None = None
    breaches: tuple[str, ...] = ()  # SLOs broken at this step
    limits: tuple[str, ...] = ()  # why the generator, not the target, set the pace

    @property
    def status(self) -> str:
        return "limited" if self.limits else ("broke" if self.breaches else "held")


def steps_of(run: Run, scenario: Scenario) -> list[Step] | None:
    """The steps of a step-load run (None for any other run), each judged on its hold."""
    marks = run.events[run.events["kind"] == "step"]
    if not run.info.step_load or marks.empty:
        return None
    gate = scenario.gates.peak
    personas = scenario.personas
    thinking = [personas.normal.think_time, personas.sharer.think_time]
    if scenario.campaign.phases.has_preheat:
        thinking.append(personas.preheat_browser.think_time)
    pacing = min(t.median for t in thinking)
    limits = (LAG_SHARE * 1000 * pacing, LAG_SHARE * 1000 * min(gate.p95.values()))
    q = run.target_load()
    starts = [(float(r.t), json.loads(r.detail)) for r in marks.itertuples()]
    run_end = float(max(run.requests["t"].max() if len(run.requests) else 0.0, run.gauges["t"].max()
                        if len(run.gauges) else 0.0))
    steps = []
    for k, (t0, mark) in enumerate(starts):
        t1 = starts[k + 1][0] if k + 1 < len(starts) else min(run_end, t0 + float(mark.get("seconds", 0)))
        hold = (t0 + min(SETTLE_S, (t1 - t0) / 2), t1)
        steps.append(_step(int(mark["step"]), int(mark["active"]), hold, q, run.gauges, gate, limits))
    return steps


def _step(index: int, target: int, hold: tuple[float, float], q: pd.DataFrame, gauges: pd.DataFrame,
          gate, lag_limits: tuple[float, float]) -> Step:
    lo, hi = hold
    rows = q[(q["t"] >= lo) & (q["t"] < hi)]
    g = gauges[(gauges["t"] >= lo) & (gauges["t"] < hi)]
    seconds = max(hi - lo, 1e-9)
    p95 = {}
    breaches = []
    for action, sent in rows.groupby("action"):
        served = sent[~sent["refused"]] if (~sent["refused"]).any() else sent
        p95[str(action)] = float(served["latency_ms"].quantile(0.95))
        slo = gate.p95_for(str(action))
        if slo is not None and p95[str(action)] > slo * 1000:
            breaches.append(f"p95 {action} {p95[str(action)]:,.0f} ms > {slo * 1000:,.0f} ms")
    broken = ~rows["ok"] & ~rows["refused"]
    error_rate = float(broken.mean()) if len(rows) else None
    if error_rate is not None and error_rate > gate.error_rate_max:
        breaches.append(f"error rate {error_rate:.1%} > {gate.error_rate_max:.1%}")
    active = float(g["active_users"].astype(float).mean()) if len(g) else 0.0
    limits = _limits(g, target, active, lag_limits, bool(breaches))
    if not len(rows):  # nothing answered is nothing held: the load never reached the target
        limits.append("no request was answered in the step's hold")
    return Step(index=index, target=target, start=lo, end=hi, active=active, rps=len(rows) / seconds,
                requests=len(rows), p95_ms=p95, error_rate=error_rate, breaches=tuple(breaches),
                limits=tuple(limits))


def _limits(g: pd.DataFrame, target: int, active: float, lag_limits: tuple[float, float], broke: bool) -> list[str]:
    """Why the load generator, not the target, set this step's pace (nothing if it kept up).

    The load was not delivered when the generator's loop ran late against the think times it
    asked for (`lag_limits[0]`: a tenth of the personas' shortest median think time), when
    participants started late for want of a slot, or when too few were playing. A step that
    broke is not the target's to own either when the generator's lag was a tenth of the tightest
    SLO or more (`lag_limits[1]`: it may be the latency measured), or a load process or the
    machine (which a loopback target shares) was at 90 % CPU: a step held under those held."""
    why = []
    pacing_limit, slo_limit = lag_limits

    def sustained(column: str) -> float | None:
        """The level the gauge held for a quarter of the hold's seconds (a one-second spike,
        a collection or a slot being spawned, is no saturation)."""
        values = g[column].astype(float).dropna() if column in g else pd.Series(dtype=float)
        return float(values.quantile(1 - SUSTAINED_SHARE)) if len(values) else None

    if not len(g):
        return ["no gauges in the step's hold"]
    if not math.isfinite(active):  # a gauge not measured is never read as enough playing
        why.append("the participants playing were not measured (no active_users gauge)")
    elif active < PLAYING_SHARE * target:
        why.append(f"only {active:,.0f} of {target:,} participants playing")
    lag = sustained("loop_lag_ms")
    if lag is not None and (lag > pacing_limit or (broke and lag > slo_limit)):
        limit = pacing_limit if lag > pacing_limit else slo_limit
        why.append(f"the generator's event loop ran {lag:,.0f} ms late (limit {limit:,.0f} ms)")
    for column, what in (("cpu_percent", "a load process"), ("host_cpu_percent", "the load generator's machine")):
        cpu = sustained(column)
        if broke and cpu is not None and cpu >= CPU_LIMIT:
            why.append(f"{what} at {cpu:,.0f}% CPU")
    start_lag = sustained("arrival_lag_ms")
    if start_lag is not None and start_lag > pacing_limit:
        why.append(f"participants started {start_lag:,.0f} ms late (no free slot)")
    return why


def knee_of(steps: list[Step]) -> tuple[Step | None, Step | None]:
    """(the knee: the highest step held with every lower one held, the step that stopped the
    climb: the first broken or limited one, or None)."""
    knee = None
    for step in sorted(steps, key=lambda s: (s.target, s.index)):
        if step.status != "held":
            return knee, step
        knee = step
    return knee, None


def step_verdicts(steps: list[Step], scenario: Scenario) -> list[Verdict]:
    """peak.active_users (the knee against the target), peak.p95 and peak.error_rate, from the
    steps up to the first one at the target."""
    gate = scenario.gates.peak
    target = gate.target_active_users
    knee, stop = knee_of(steps)
    reached = knee.target if knee else 0
    table = [Evidence(s.start, f"step {s.index + 1}: {s.target:,} participants, {s.active:,.0f} playing, "
                               f"{s.rps:,.0f} req/s: {s.status}"
                               + (f" ({'; '.join(s.limits or s.breaches)})" if s.status != "held" else ""))
             for s in steps]
    if knee is not None and reached >= target:  # a knee: the target is at least 1
        summary = Evidence(knee.start, f"knee at {knee.target:,} participants playing ({knee.rps:,.0f} req/s), "
                                       f"every step held up to it")
        active = judged("peak", "active users served", float(reached), float(target), "users", True,
                        [summary] + table, "active_users")
    elif stop is not None and stop.status == "broke":
        active = judged("peak", "active users served", float(reached), float(target), "users", False,
                        [Evidence(stop.start, f"the target broke at {stop.target:,} participants: "
                                              f"{'; '.join(stop.breaches)}")] + table, "active_users")
    else:
        why = (f"step {stop.index + 1} ({stop.target:,}) was limited by the load generator, not the target: "
               f"{'; '.join(stop.limits)}: add workers (--workers) or a machine for the load"
               if stop is not None else f"the steps went up to {max(s.target for s in steps):,}")
        active = judged("peak", "active users served", float(reached), float(target), "users", None,
                        [Evidence(None, f"held up to {reached:,} of {target:,} participants; {why}")] + table,
                        "active_users", to_verify=_to_verify(reached, target, stop))
    upto = [s for s in sorted(steps, key=lambda s: s.target) if s.status != "limited"]
    judged_steps = []
    for step in upto:
        judged_steps.append(step)
        if step.target >= target:
            break
    reached_target = any(s.target >= target for s in judged_steps)
    verdicts = [active]
    for slug, check, broke in (("p95", "p95 per action", lambda s: [b for b in s.breaches if b.startswith("p95")]),
                               ("error_rate", "error rate", lambda s: [b for b in s.breaches if b.startswith("error")])):
        failing = [(s, broke(s)) for s in judged_steps if s.target <= target and broke(s)]
        if failing:
            s, what = failing[0]
            verdicts.append(judged("peak", check, None, None, "", False,
                                   [Evidence(s.start, f"at {s.target:,} participants: {'; '.join(what)}")], slug))
        elif reached_target:
            verdicts.append(judged("peak", check, None, None, "", True,
                                   [Evidence(None, f"held at every step up to {target:,} participants")], slug))
        else:
            verdicts.append(unverified("peak", check, f"no step at {target:,} participants was measured with a "
                                                       "load generator that kept up", slug,
                                       to_verify=_to_verify(reached, target, stop)))
    return verdicts


def _to_verify(reached: int, target: int, stop: Step | None) -> str:
    """What would verify the peak when no step at the target was measured with a generator that
    kept up: more load (the generator was the limit), or steps that reach the target."""
    if stop is not None and stop.status == "limited":
        return (f"the load generator carried {reached:,} of {target:,} participants here: play the peak from more "
                "load processes (--peak-workers N with rehearse run or ci, --workers N with rehearse swarm), up to "
                "one per free core, on a machine with more cores, or from several hosts (README: load from many "
                "hosts)")
    return f"a step load whose steps reach the peak gate's target ({target:,} participants playing)"


STEP_HEADER = ["step", "participants", "playing", "req/s", "worst p95", "errors", "status"]


def step_rows(steps: list[Step]) -> list[list[str]]:
    rows = []
    for s in steps:
        worst = max(s.p95_ms.items(), key=lambda kv: kv[1], default=None)
        rows.append([str(s.index + 1), f"{s.target:,}", f"{s.active:,.0f}", f"{s.rps:,.0f}",
                     f"{worst[0]} {worst[1]:,.0f} ms" if worst else "-",
                     f"{s.error_rate:.2%}" if s.error_rate is not None else "-",
                     s.status + (f": {'; '.join(s.limits or s.breaches)}" if s.status != "held" else "")])
    return rows
