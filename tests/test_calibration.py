"""Calibration (calibration/): the USL and an M/M/c queue per action fitted to a step load's held
steps, and the knee they predict. Synthetic step loads whose truth is known, no traffic."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from rehearse.calibration import CalibrationError, calibrate, fit_usl
from rehearse.calibration.queues import fit_queue
from rehearse.observations import GAUGES, REQUESTS, Run, RunInfo
from rehearse.scenarios import load_scenario
from rehearse.simulator.erlang import erlang_c

STEP_S = 30.0
THINK_S = 8.0  # each participant sends one request per THINK_S (a closed loop, as the personas)
SERVICE_S, SERVERS = 0.05, 4  # the true queue: 80 requests/s at most


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(overrides=("gates.peak.target_active_users=800",))


def mmc_latencies(rng: np.random.Generator, rate: float, n: int) -> np.ndarray:
    """n response times (ms) of the M/M/c queue at `rate`: a wait with Erlang C's probability, then service."""
    q = erlang_c(rate, SERVICE_S, SERVERS)
    waits = np.where(rng.random(n) < q.wait_probability, rng.exponential(1 / q.drain_rate, n), 0.0)
    return (waits + rng.exponential(SERVICE_S, n)) * 1000


def queue_run(scenario, participants: list[int], seed: int = 1, broke_above: int | None = None,
              starved_above: int | None = None) -> Run:
    """A step load against the true queue: each step N participants, N / THINK_S requests/s."""
    rng = np.random.default_rng(seed)
    events, gauges, rows = [], [], []
    for k, n in enumerate(participants):
        start = k * STEP_S
        events.append((start, "step", json.dumps({"step": k, "active": n, "seconds": STEP_S})))
        rate = n / THINK_S
        count = rng.poisson(rate * STEP_S)
        times = np.sort(rng.uniform(start, start + STEP_S, count))
        slow = broke_above is not None and n > broke_above
        latency = np.full(count, 3000.0) if slow else mmc_latencies(rng, rate, count)
        rows += [dict(t=float(t), engine="swarm", persona="normal", user_id=f"u{k}-{i}", action="open_envelope",
                      channel="c", domain="", status=200, ok=True, refused=False, latency_ms=float(ms),
                      payout_fen=0, error="", prize="", attempt=f"u{k}-{i}#1")
                 for i, (t, ms) in enumerate(zip(times, latency))]
        lag = 900.0 if starved_above is not None and n > starved_above else 2.0  # the generator's loop, late
        gauges += [{"t": start + s + 0.5, "active_users": n, "loop_lag_ms": lag, "cpu_percent": 30.0,
                    "host_cpu_percent": 30.0, "arrival_lag_ms": 1.0} for s in range(int(STEP_S))]
    info = RunInfo.start(scenario, engine="swarm", seed=1,
                         extra={"steps": participants, "step_s": STEP_S, "window": "launch_hour"})
    return Run(info=info, requests=REQUESTS.from_columns({c: [r[c] for r in rows] for c in REQUESTS.columns}),
               gauges=pd.DataFrame(gauges).reindex(columns=list(GAUGES.columns)).astype(dict(GAUGES.columns)),
               events=pd.DataFrame(events, columns=["t", "kind", "detail"]), rolled_up=False)


def test_the_usl_fit_recovers_known_coefficients():
    n = np.array([1, 2, 4, 8, 16, 32, 64], dtype=float)
    truth = 10 * n / (1 + 0.05 * (n - 1) + 0.001 * n * (n - 1))
    fit = fit_usl(n, truth)
    assert (fit.lam, fit.sigma, fit.kappa) == pytest.approx((10, 0.05, 0.001), rel=1e-6)
    assert fit.peak == pytest.approx(math.sqrt(0.95 / 0.001))
    linear = fit_usl([100, 200, 400], [12.5, 25, 50])  # a closed loop below its knee: no contention seen
    assert linear.sigma == pytest.approx(0, abs=1e-9) and linear.kappa == pytest.approx(0, abs=1e-12)
    with pytest.raises(ValueError, match="two concurrencies"):
        fit_usl([100, 100], [5, 6])


def test_a_queue_fit_holds_the_true_queue_and_says_how_sure_it_is():
    rng = np.random.default_rng(3)
    rates = [12.5, 25.0, 50.0, 62.5]
    p95 = [float(np.quantile(mmc_latencies(rng, r, 4000), 0.95)) for r in rates]
    fit = fit_queue(rates, p95, [0.03] * len(rates))
    assert any(q.servers == SERVERS and q.service_time == pytest.approx(SERVICE_S, rel=0.3) for q in fit.consistent)
    assert fit.least.capacity <= SERVERS / SERVICE_S * 1.3 and fit.most.capacity >= SERVERS / SERVICE_S * 0.7
    flat = fit_queue([10, 20, 40], [30.0, 30.0, 30.0], [0.03] * 3)  # latency never rose: capacity unknown above
    assert flat.most.capacity > 100 * flat.least.capacity / 10


def test_the_knee_predicted_from_the_held_steps_is_where_the_queue_breaks(scenario):
    run = queue_run(scenario, [100, 300, 500, 540])  # up to 84 % of the queue's capacity
    calibration = calibrate(run, scenario, below=540)  # the highest step held out
    assert calibration.steps == (100, 300, 500)
    held_out = calibration.predict(540)
    measured = next(s for s in calibrate(run, scenario).samples if s.participants == 540)
    assert held_out.rps == pytest.approx(measured.rps, rel=0.15)
    assert held_out.p95_ms["open_envelope"] == pytest.approx(measured.actions["open_envelope"].p95_ms, rel=0.3)
    # the true knee: the rate at which the queue's p95 reaches the 1 s SLO, in participants
    rate = next(r for r in np.arange(40, 80, 0.05) if erlang_c(r, SERVICE_S, SERVERS).p95_response > 1.0)
    truth = rate * THINK_S
    knee = calibration.knee
    assert knee.limit == "p95 open_envelope" and knee.low <= truth <= knee.high
    assert knee.participants == pytest.approx(truth, rel=0.25)
    assert calibration.replicas_for(800) == math.ceil(800 / knee.participants) == 2  # the peak gate's 800
    assert not calibration.queues["open_envelope"].unbounded
    assert calibration.as_dict()["replicas_for_peak"] == {"participants": 800, "replicas": 2,
                                                          "assumes": "linear scale-out"}
    model = calibration.backend_model(scenario)
    assert model["actions"]["login"] == {"service_time": "20ms", "concurrency": 200}  # not measured: as assumed
    fitted = model["actions"]["open_envelope"]
    load_scenario(overrides=(f"backend_model.actions.open_envelope={json.dumps(fitted)}",))  # a valid model
    assert calibration.as_dict()["prediction"] is True
    json.dumps(calibration.as_dict())


def test_too_few_held_steps_or_no_step_load_is_refused_with_what_to_do(scenario):
    broken = queue_run(scenario, [100, 200, 300, 400], broke_above=200)
    with pytest.raises(CalibrationError, match=r"2 held step\(s\) with answers to fit on \(100: held, 200: held, "
                                               r"300: broke, 400: broke\); a fit needs 3: play more steps below the knee"):
        calibrate(broken, scenario)
    plain = queue_run(scenario, [100, 200, 300])
    plain = Run(info=plain.info.model_copy(update={"extra": {}}), requests=plain.requests, gauges=plain.gauges,
                events=plain.events.iloc[0:0], rolled_up=False)
    with pytest.raises(CalibrationError, match="no step load"):
        calibrate(plain, scenario)


def write_run(folder, run: Run):
    from rehearse.observations import RunWriter

    with RunWriter(folder, run.info) as out:
        for row in run.requests.to_dict("records"):
            out.request(**row)
        for row in run.gauges.to_dict("records"):
            out.gauge(**{k: v for k, v in row.items() if v == v})  # NaN: a gauge not measured
        for t, kind, detail in run.events.itertuples(index=False):
            out.event(t, kind, detail)
    return folder


def test_rehearse_calibrate_prints_the_fit_and_writes_a_scenario_that_loads(tmp_path, scenario, capsys):
    from rehearse.cli.main import main

    folder = write_run(tmp_path / "peak", queue_run(scenario, [100, 300, 500, 540]))
    out = tmp_path / "calibrated.yaml"
    with pytest.raises(SystemExit) as exited:
        main(["calibrate", str(folder), "--set", "gates.peak.target_active_users=800", "--out", str(out)])
    printed = capsys.readouterr().out.replace("\n", " ")
    assert exited.value.code == 0, printed
    assert "calibrated on the held steps at 100, 300, 500, 540 participants; everything below is a prediction" in printed
    assert "predicted knee: " in printed and "set by p95 open_envelope, at the load each participant sent at 540" in printed
    calibrated = load_scenario(out)  # the run's scenario, its overrides applied, the fitted queue in it
    assert calibrated.gates.peak.target_active_users == 800
    assert calibrated.backend_model.actions["open_envelope"].concurrency != 200
    assert out.read_text().startswith("# year_end_red_envelope, its backend_model calibrated by `rehearse calibrate`")
    assert json.loads((folder / "calibration.json").read_text())["prediction"] is True
    with pytest.raises(SystemExit) as exited:
        main(["calibrate", str(folder), "--set", "gates.peak.target_active_users=800", "--hold-out"])
    assert exited.value.code == 0 and "held out: the step at 540 participants" in capsys.readouterr().out
    few = write_run(tmp_path / "few", queue_run(scenario, [100, 200]))
    with pytest.raises(SystemExit) as exited:
        main(["calibrate", str(few), "--set", "gates.peak.target_active_users=800"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "a fit needs 3" in err and "Traceback" not in err


def test_a_peak_the_generator_limited_gets_its_predicted_knee_beside_the_verdict_never_in_it(scenario):
    from rehearse.calibration.peak import with_peak_predictions
    from rehearse.judging.judge import judge
    from rehearse.reports.markdown import render_markdown

    judged_by = load_scenario(overrides=("gates.peak.target_active_users=800", "gates.required=[peak]",
                                         "gates.off=[rules, payout]"))
    run = queue_run(judged_by, [100, 200, 300, 600], starved_above=300)  # the 600 step: the generator limited it
    runs = [("peak", run)]
    plain = judge(runs, judged_by, allow_interrupted=True)
    judgement = with_peak_predictions(plain, runs, judged_by)
    assert judgement.tally.outcome == plain.tally.outcome == "inconclusive"  # a prediction verifies nothing
    assert judgement.verdicts == plain.verdicts
    (line,) = judgement.tally.predictions
    assert line.startswith("peak: predicted knee ") and "from the held steps at 100, 200, 300" in line, line
    assert "(a prediction: it verifies nothing" in line
    md = render_markdown(runs, list(judgement.verdicts), judged=judgement.tally)
    assert "Predicted (a model fitted to what was measured; it verifies nothing):" in md and line in md
    few = [("peak", queue_run(judged_by, [100, 200, 600], starved_above=200))]
    (why,) = with_peak_predictions(judge(few, judged_by, allow_interrupted=True), few, judged_by).tally.predictions
    assert why.startswith("peak: no predicted knee: 2 held step(s) with answers to fit on (100: held, 200: held, "
                          "600: limited)")
    held = [("peak", queue_run(judged_by, [100, 200, 400, 600], broke_above=400))]  # verified (or failed): nothing to predict
    assert with_peak_predictions(judge(held, judged_by, allow_interrupted=True), held, judged_by).tally.predictions == ()


def test_the_usl_roots_and_bounds_hold_at_the_edges():
    from rehearse.calibration.usl import USL

    tiny = USL(lam=1e4, sigma=0.0, kappa=1e-14)  # a coherency cost at rounding level
    n = tiny.concurrency_for(10.0)
    assert n == pytest.approx(0.001, rel=1e-6) and float(tiny.throughput(n)) == pytest.approx(10.0, rel=1e-9)
    big = tiny.concurrency_for(1000.0)
    assert float(tiny.throughput(big)) == pytest.approx(1000.0, rel=1e-9)
    assert USL(lam=10, sigma=0.0, kappa=0.0).concurrency_for(50.0) == pytest.approx(5.0)
    assert math.isinf(USL(lam=10, sigma=0.5, kappa=0.0).concurrency_for(25.0))  # past lam / sigma = 20
    # a fit never gives sigma above 1 (more than all the work in line) nor rounding-level coefficients
    fit = fit_usl([1, 2, 3], [10, 10.5, 10.6])
    assert 0 <= fit.sigma <= 1 and fit.kappa >= 0
    flat = fit_usl([1, 2, 4, 8], [10, 20, 40, 80])
    assert (flat.sigma, flat.kappa, flat.max_throughput) == (0.0, 0.0, math.inf)


def test_a_fitted_service_time_is_written_as_the_scenario_reads_it(scenario):
    from rehearse.calibration.fit import _ms

    assert [_ms(s) for s in (0.00123, 1.2345, 12.0, 0.0005)] == ["1.23ms", "1234.5ms", "12000ms", "0.5ms"]
    for text in ("1234.5ms", "0.5ms"):
        load_scenario(overrides=(f"backend_model.actions.login.service_time={text}",))


def test_a_step_load_that_answered_nothing_is_judged_and_predicts_nothing_without_a_traceback(tmp_path, scenario,
                                                                                           capsys):
    from rehearse.cli.main import main

    run = queue_run(scenario, [100, 200, 300, 400])
    silent = Run(info=run.info, requests=run.requests.iloc[0:0], gauges=run.gauges, events=run.events,
                 rolled_up=False)
    folder = write_run(tmp_path / "peak", silent)
    with pytest.raises(SystemExit) as exited:
        main(["check", str(folder), "--set", "gates.peak.target_active_users=800"])
    out = capsys.readouterr()
    assert exited.value.code == 3 and "Traceback" not in out.out + out.err
    assert "prediction: " in out.out and "no predicted knee: 0 held step(s)" in out.out
    with pytest.raises(SystemExit) as exited:
        main(["calibrate", str(folder), "--set", "gates.peak.target_active_users=800"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "a fit needs 3" in err and "Traceback" not in err
