"""The peak at real concurrency, judged from a step load's rows and gauges (judging/steps.py): held,
broke, or limited by the load generator; the knee against the target. Synthetic run folders, no
traffic: every verdict has a case that passes, one that fails and one not verified."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rehearse.observations import GAUGES, REQUESTS, Run, RunInfo
from rehearse.judging.answers import launch_answers
from rehearse.judging.judge import judge
from rehearse.judging.steps import knee_of, step_verdicts, steps_of
from rehearse.scenarios import load_scenario

STEP_S = 20.0


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(overrides=("gates.peak.target_active_users=400",))  # steps 100, 200, 400


def step_run(scenario, steps: list[dict]) -> Run:
    """A step load's folder: per step, its participants playing, the latency every request took
    and the generator's own gauges (loop lag, CPU of the load process and the machine)."""
    events, gauges, requests = [], [], []
    for k, step in enumerate(steps):
        start = k * STEP_S
        events.append((start, "step", json.dumps({"step": k, "active": step["target"], "seconds": STEP_S})))
        for second in range(int(STEP_S)):
            t = start + second + 0.5
            gauges.append({"t": t, "active_users": step.get("playing", step["target"]),
                           "loop_lag_ms": step.get("lag", 2.0), "cpu_percent": step.get("cpu", 40.0),
                           "host_cpu_percent": step.get("host", 40.0), "arrival_lag_ms": 1.0})
            for n in range(10):
                requests.append(dict(t=t + n / 20, engine="swarm", persona="normal", user_id=f"u{k}-{n}",
                                     action="open_envelope", channel="c", domain="", status=200,
                                     ok=not step.get("errors", False), refused=False,
                                     latency_ms=step.get("latency", 40.0), payout_fen=0, error="",
                                     prize="anhe", attempt=f"u{k}-{n}#1"))
    info = RunInfo.start(scenario, engine="swarm", seed=1,
                         extra={"steps": [s["target"] for s in steps], "step_s": STEP_S, "window": "launch_hour"})
    return Run(info=info, requests=REQUESTS.from_columns({c: [r[c] for r in requests] for c in REQUESTS.columns}),
               gauges=pd.DataFrame(gauges).reindex(columns=list(GAUGES.columns)).astype(dict(GAUGES.columns)),
               events=pd.DataFrame(events, columns=["t", "kind", "detail"]), rolled_up=False)


def verdicts(scenario, steps):
    return {v.key: v for v in step_verdicts(steps_of(step_run(scenario, steps), scenario), scenario)}


def test_every_step_held_up_to_the_target_passes(scenario):
    found = verdicts(scenario, [{"target": 100}, {"target": 200}, {"target": 400}])
    assert {k: v.status for k, v in found.items()} == {
        "peak.active_users": "pass", "peak.p95": "pass", "peak.error_rate": "pass"}
    assert found["peak.active_users"].figure == 400


def test_the_target_breaking_below_the_peak_fails_it_with_the_knee(scenario):
    steps = steps_of(step_run(scenario, [{"target": 100}, {"target": 200, "latency": 1500.0}, {"target": 400}]),
                     scenario)
    knee, stop = knee_of(steps)
    assert (knee.target, stop.target, stop.status) == (100, 200, "broke")
    found = {v.key: v for v in step_verdicts(steps, scenario)}
    assert found["peak.active_users"].status == "fail" and found["peak.active_users"].figure == 100
    assert "the target broke at 200 participants: p95 open_envelope 1,500 ms > 1,000 ms" in \
        found["peak.active_users"].evidence[0].detail
    assert found["peak.p95"].status == "fail" and found["peak.error_rate"].status == "pass"


def test_errors_break_a_step(scenario):
    found = verdicts(scenario, [{"target": 100}, {"target": 200}, {"target": 400, "errors": True}])
    assert found["peak.error_rate"].status == "fail" and found["peak.active_users"].status == "fail"


def test_a_starved_generator_leaves_the_peak_not_verified_instead_of_failing_the_target(scenario):
    """The generator's loop ran 300 ms late at 400: the slow answers are its own, not the target's."""
    found = verdicts(scenario, [{"target": 100}, {"target": 200},
                                {"target": 400, "lag": 300.0, "latency": 1500.0, "cpu": 100.0}])
    assert {k: v.status for k, v in found.items()} == {
        "peak.active_users": "unverified", "peak.p95": "unverified", "peak.error_rate": "unverified"}
    detail = found["peak.active_users"].evidence[0].detail
    assert "held up to 200 of 400" in detail and "limited by the load generator" in detail
    assert "event loop ran 300 ms late" in detail and "add workers" in detail


def test_a_busy_machine_cannot_fail_the_target_but_a_step_held_on_it_held(scenario):
    broke_busy = verdicts(scenario, [{"target": 100}, {"target": 200}, {"target": 400, "latency": 1500.0,
                                                                        "host": 97.0}])
    assert broke_busy["peak.active_users"].status == "unverified"
    assert "the load generator's machine at 97% CPU" in broke_busy["peak.active_users"].evidence[0].detail
    held_busy = verdicts(scenario, [{"target": 100}, {"target": 200}, {"target": 400, "host": 97.0}])
    assert held_busy["peak.active_users"].status == "pass"


def test_too_few_playing_or_steps_short_of_the_target_are_not_verified(scenario):
    short = verdicts(scenario, [{"target": 100}, {"target": 200}, {"target": 400, "playing": 250}])
    assert short["peak.active_users"].status == "unverified"
    assert "only 250 of 400 participants playing" in short["peak.active_users"].evidence[0].detail
    low = verdicts(scenario, [{"target": 100}, {"target": 200}])
    assert low["peak.active_users"].status == "unverified"
    assert "the steps went up to 200" in low["peak.active_users"].evidence[0].detail


def test_a_one_second_spike_is_no_saturation(scenario):
    run = step_run(scenario, [{"target": 100}, {"target": 200}, {"target": 400}])
    spike = run.gauges.index[(run.gauges["t"] > 50) & (run.gauges["t"] < 51)]
    run.gauges.loc[spike, "loop_lag_ms"] = 900.0  # a collection, or a burst of slots being spawned
    assert [s.status for s in steps_of(run, scenario)] == ["held", "held", "held"]


def test_the_step_run_answers_the_peak_and_a_run_without_steps_is_no_step_run(scenario):
    run = step_run(scenario, [{"target": 100}, {"target": 200}, {"target": 400}])
    judgement = judge([("peak", run)], scenario, allow_unverified=True)
    peak = next(a for a in launch_answers(judgement.verdicts) if a.risk == "Peak")
    assert peak.word == "PASS" and "400 active users against 400" in peak.detail
    assert judgement.steps[0][0] == "peak" and len(judgement.steps[0][1]) == 3
    plain = Run(info=run.info.model_copy(update={"extra": {}}), requests=run.requests, gauges=run.gauges,
                events=run.events.iloc[0:0], rolled_up=False)
    assert steps_of(plain, scenario) is None


def test_a_late_loop_limits_a_step_only_when_it_could_have_changed_the_verdict(scenario):
    """Late by 100 ms against 6 s think times, the load was delivered, and answers under the SLO
    with that lag in them were under it without: held. Late by 800 ms, the load was not delivered."""
    held = verdicts(scenario, [{"target": 100}, {"target": 200}, {"target": 400, "lag": 100.0}])
    assert held["peak.active_users"].status == "pass"
    starved = verdicts(scenario, [{"target": 100}, {"target": 200}, {"target": 400, "lag": 800.0}])
    assert starved["peak.active_users"].status == "unverified"
    assert "ran 800 ms late (limit 600 ms)" in starved["peak.active_users"].evidence[0].detail


def test_a_starved_generator_makes_the_rehearsal_inconclusive_and_says_to_add_load_processes(scenario):
    run = step_run(scenario, [{"target": 100}, {"target": 200},
                              {"target": 400, "lag": 300.0, "latency": 1500.0, "cpu": 100.0}])
    judgement = judge([("peak", run)], load_scenario(overrides=("gates.peak.target_active_users=400",
                                                                "gates.required=[peak]", "gates.off=[rules]")),
                      allow_interrupted=True)
    t = judgement.tally
    assert (t.outcome, judgement.exit_code, t.failed) == ("inconclusive", 3, 0)
    assert t.to_conclude == (
        "peak: peak.active_users, peak.p95, peak.error_rate: the load generator carried 200 of 400 participants "
        "here: play the peak from more load processes (--peak-workers N with rehearse run or ci, --workers N with "
        "rehearse swarm), up to one per free core, on a machine with more cores, or from several hosts (README: "
        "load from many hosts)",)


def test_a_step_that_answered_nothing_or_whose_playing_was_not_measured_is_never_held(scenario):
    """A wrong PASS found in review: no rows meant no breach, and a NaN mean of the gauge was never
    'too few playing'."""
    run = step_run(scenario, [{"target": 100}, {"target": 200}, {"target": 400}])
    silent = Run(info=run.info, requests=run.requests[run.requests["t"] < STEP_S], gauges=run.gauges,
                 events=run.events, rolled_up=False)  # steps 2 and 3 got no answer at all
    steps = steps_of(silent, scenario)
    assert [s.status for s in steps] == ["held", "limited", "limited"]
    assert "no request was answered in the step's hold" in steps[1].limits
    found = {v.key: v.status for v in step_verdicts(steps, scenario)}
    assert found == {"peak.active_users": "unverified", "peak.p95": "unverified", "peak.error_rate": "unverified"}
    unmeasured = Run(info=run.info, requests=run.requests, gauges=run.gauges.assign(active_users=float("nan")),
                     events=run.events, rolled_up=False)
    steps = steps_of(unmeasured, scenario)
    assert all(s.status == "limited" for s in steps)
    assert "the participants playing were not measured (no active_users gauge)" in steps[0].limits
    assert {v.key: v.status for v in step_verdicts(steps, scenario)}["peak.active_users"] == "unverified"
