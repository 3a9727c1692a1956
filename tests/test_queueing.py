"""The modelled backend's queues: Erlang C, the per-request SimPy model and the bucket model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rehearse.scenarios import load_scenario
from rehearse.simulator import erlang, queueing
from rehearse.simulator.erlang import QueueingError, erlang_c, response_survival
from rehearse.simulator.queueing import ActionQueue, ActionQueues, bucket_latency, simulate_mm_c

SERVICE_P95 = math.log(20.0)  # the 95th percentile of an exponential, in means


def log_space_erlang_c(offered: float, servers: int) -> float:
    """Erlang C from its textbook sum, in log space: an independent check of the recursion."""
    terms = [k * math.log(offered) - math.lgamma(k + 1) for k in range(servers)]
    last = servers * math.log(offered) - math.lgamma(servers + 1) - math.log(1 - offered / servers)
    top = max(max(terms), last)
    total = sum(math.exp(t - top) for t in terms) + math.exp(last - top)
    return math.exp(last - top) / total


# --- Erlang C -------------------------------------------------------------------------------


def test_erlang_c_matches_the_textbook_value() -> None:
    figures = erlang_c(2.0, 1.0, 3)
    assert figures.stable
    assert figures.utilisation == pytest.approx(2 / 3)
    assert figures.wait_probability == pytest.approx(4 / 9, rel=1e-12)
    assert figures.mean_wait == pytest.approx(4 / 9, rel=1e-12)
    assert figures.mean_response == pytest.approx(13 / 9, rel=1e-12)


def test_wait_quantile_is_zero_below_the_waiting_share_then_exponential() -> None:
    figures = erlang_c(2.0, 1.0, 3)  # C = 4/9, c*mu - lambda = 1/s
    assert figures.wait_quantile(0.5) == 0.0  # 1 - C = 5/9 of requests do not wait
    assert figures.wait_quantile(0.95) == pytest.approx(math.log((4 / 9) / 0.05), rel=1e-12)


@pytest.mark.parametrize("rate, service, servers", [(0.0, 0.025, 200), (2.0, 1.0, 3), (1.0, 1.0, 2),
                                                    (7900.0, 0.025, 200)])
def test_response_quantile_leaves_exactly_the_tail_above_it(rate: float, service: float,
                                                            servers: int) -> None:
    figures = erlang_c(rate, service, servers)  # (1, 1, 2): the drain rate equals the service rate
    t = figures.response_quantile(0.95)
    tail = response_survival(t, figures.wait_probability, figures.drain_rate, 1.0 / service)
    assert float(tail) == pytest.approx(0.05, rel=1e-9)
    assert figures.p95_response == t


def test_response_quantile_at_no_load_is_the_service_times_own() -> None:
    assert erlang_c(0.0, 0.025, 200).p95_response == pytest.approx(0.025 * SERVICE_P95, rel=1e-9)


@pytest.mark.parametrize("rate", [3.0, 10.0])
def test_an_unstable_queue_is_flagged_with_infinite_waits(rate: float) -> None:
    figures = erlang_c(rate, 1.0, 3)
    assert not figures.stable
    assert figures.utilisation == pytest.approx(rate / 3)
    assert figures.wait_probability == 1.0
    assert figures.mean_wait == figures.mean_response == math.inf
    assert figures.wait_quantile(0.95) == figures.p95_response == math.inf


@pytest.mark.parametrize("rho", [0.3, 0.9, 0.98, 0.999])
def test_five_thousand_servers_are_numerically_fine(rho: float) -> None:
    figures = erlang_c(rho * 5000 / 0.5, 0.5, 5000)
    expected = log_space_erlang_c(rho * 5000, 5000)
    assert 0.0 <= figures.wait_probability <= 1.0
    assert figures.wait_probability == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert math.isfinite(figures.mean_wait) and math.isfinite(figures.p95_response)


@pytest.mark.parametrize("call, needle", [
    (lambda: erlang_c(-1.0, 1.0, 3), "arrival rate -1.0"),
    (lambda: erlang_c(1.0, 0.0, 3), "service time 0.0"),
    (lambda: erlang_c(1.0, 1.0, 0), "servers 0"),
    (lambda: erlang_c(1.0, 1.0, 3).wait_quantile(1.0), "quantile 1.0"),
])
def test_bad_queues_are_refused_with_the_value_and_the_fix(call, needle: str) -> None:
    with pytest.raises(QueueingError, match="give") as caught:
        call()
    assert needle in str(caught.value)


# --- the per-request SimPy model ------------------------------------------------------------


def test_simulated_wait_matches_erlang_c_at_half_load_and_nobody_times_out() -> None:
    expected = erlang_c(1.0, 1.0, 2)  # rho 0.5; a 60 s timeout never fires (P ~ e^-60)
    run = simulate_mm_c(1.0, 1.0, 2, requests=200_000, seed=11, timeout=60.0)
    assert run.timed_out == 0 and run.completed == 200_000
    assert run.mean_wait == pytest.approx(expected.mean_wait, rel=0.05)
    assert run.p95_response == pytest.approx(expected.p95_response, rel=0.05)


def test_simulated_wait_matches_erlang_c_at_eighty_percent_load() -> None:
    expected = erlang_c(4.0, 1.0, 5)  # rho 0.8
    run = simulate_mm_c(4.0, 1.0, 5, requests=400_000, seed=11)
    assert run.timed_out == 0
    assert run.mean_wait == pytest.approx(expected.mean_wait, rel=0.05)
    assert run.p95_response == pytest.approx(expected.p95_response, rel=0.05)


def test_an_overloaded_backend_times_requests_out() -> None:
    run = simulate_mm_c(12.0, 1.0, 10, requests=20_000, seed=11, timeout=2.0)  # rho 1.2
    assert run.timed_out > 0
    assert run.completed + run.timed_out == run.requests
    assert run.mean_wait <= 2.0  # nobody who was served waited past the timeout


def test_the_simulation_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> queueing.SimulatedQueue:
        return simulate_mm_c(9.0, 1.0, 10, requests=2_000, seed=seed, timeout=1.0)

    assert run(3) == run(3)
    assert run(3) != run(4)


# --- the bucket model -----------------------------------------------------------------------

# A small backend whose figures are easy to follow: 10 workers of 1 s, so 10 requests/s, that
# is 100 requests per 10 s bucket.
SMALL = dict(bucket_s=10.0, service_time=1.0, servers=10)


def test_at_low_load_the_buckets_are_erlang_c_with_no_backlog() -> None:
    figures = bucket_latency(np.full(8, 50.0), timeout=30.0, **SMALL)  # rho 0.5
    expected = erlang_c(5.0, 1.0, 10)
    assert figures.backlog.tolist() == [0.0] * 8
    assert figures.served == pytest.approx(np.full(8, 50.0), rel=1e-9)  # P(wait > 30 s) ~ 1e-68
    assert figures.timed_out == pytest.approx(np.zeros(8), abs=1e-9)
    assert figures.mean_ms == pytest.approx(np.full(8, expected.mean_response * 1000), rel=1e-9)
    assert figures.p95_ms == pytest.approx(np.full(8, expected.p95_response * 1000), rel=1e-9)


def test_a_burst_builds_a_backlog_that_drains_afterwards() -> None:
    arrivals = np.array([50, 50, 150, 150, 150, 50, 50, 50, 50, 50], dtype=float)
    figures = bucket_latency(arrivals, timeout=300.0, **SMALL)
    assert figures.backlog.tolist() == [0, 0, 50, 100, 150, 100, 50, 0, 0, 0]
    assert figures.served.tolist()[2:7] == [100.0] * 5  # full capacity while there is a queue
    assert figures.timed_out.sum() == 0.0
    assert figures.served.sum() == arrivals.sum()
    # The queue grows from 0 to 50 in the burst's first bucket: a mean wait of 2.5 s.
    assert figures.mean_ms[2] == pytest.approx(3500.0)
    calm = erlang_c(5.0, 1.0, 10).p95_response * 1000
    assert figures.p95_ms[1] == pytest.approx(calm)
    assert all(figures.p95_ms[2:7] > calm)
    assert figures.p95_ms[8] == pytest.approx(calm)


def test_saturated_beyond_the_timeout_the_excess_times_out() -> None:
    figures = bucket_latency(np.full(6, 200.0), timeout=30.0, **SMALL)  # twice the capacity
    assert figures.backlog.tolist() == [100, 200, 300, 300, 300, 300]  # at most 30 s of work
    assert figures.timed_out.tolist() == [0, 0, 0, 100, 100, 100]
    assert figures.served.tolist() == [100.0] * 6
    assert figures.p95_ms[3:] == pytest.approx(np.full(3, (30.0 + SERVICE_P95) * 1000))


def test_buckets_never_lose_or_invent_requests() -> None:
    rng = np.random.default_rng(5)
    arrivals = rng.poisson(100 * rng.uniform(0.0, 2.0, 500)).astype(float)
    figures = bucket_latency(arrivals, timeout=20.0, **SMALL)
    total = figures.served.sum() + figures.timed_out.sum() + figures.backlog[-1]
    assert total == pytest.approx(arrivals.sum(), rel=1e-12)
    assert (figures.served <= 100.0 + 1e-9).all()
    assert np.isfinite(figures.mean_ms).all() and np.isfinite(figures.p95_ms).all()


def test_a_tighter_concurrency_limit_raises_p95_at_the_same_load() -> None:
    scenario = load_scenario()
    tighter = load_scenario(overrides=("backend_model.actions.open_envelope.concurrency=100",))
    roomy = ActionQueues.from_scenario(scenario).for_action("open_envelope")
    tight = ActionQueues.from_scenario(tighter).for_action("open_envelope")
    for per_second in (3000.0, 3900.0, 6000.0):  # both keep up; tight nearly full; tight saturated
        arrivals = np.full(5, per_second * 60.0)
        assert (tight.latency(arrivals, 60.0).p95_ms > roomy.latency(arrivals, 60.0).p95_ms).all()
    peak = np.full(5, 6000.0 * 60.0)
    assert tight.latency(peak, 60.0).timed_out.sum() > 0
    assert roomy.latency(peak, 60.0).timed_out.sum() == pytest.approx(0.0, abs=1e-6)


def test_five_thousand_servers_and_sixteen_thousand_buckets_stay_finite() -> None:
    rng = np.random.default_rng(9)
    arrivals = rng.poisson(10_000 * 60 * rng.uniform(0.0, 1.2, 16_000)).astype(float)
    figures = bucket_latency(arrivals, bucket_s=60.0, service_time=0.5, servers=5000, timeout=3.0)
    for values in (figures.served, figures.timed_out, figures.backlog, figures.mean_ms,
                   figures.p95_ms):
        assert values.shape == (16_000,) and np.isfinite(values).all() and (values >= 0).all()


def test_empty_buckets_report_the_service_time_alone() -> None:
    figures = bucket_latency(np.zeros(3), timeout=30.0, **SMALL)
    assert figures.served.tolist() == figures.timed_out.tolist() == [0.0] * 3
    assert figures.mean_ms == pytest.approx(np.full(3, 1000.0))
    assert figures.p95_ms == pytest.approx(np.full(3, SERVICE_P95 * 1000))


def test_bucket_figures_are_read_only() -> None:
    figures = bucket_latency(np.full(3, 50.0), timeout=30.0, **SMALL)
    with pytest.raises(ValueError):
        figures.backlog[0] = 1.0


@pytest.mark.parametrize("arrivals, bucket_s, needle", [
    (np.ones((2, 2)), 10.0, "1-D"),
    (np.array([1.0, -1.0]), 10.0, "counts >= 0"),
    (np.array([1.0, math.nan]), 10.0, "counts >= 0"),
    (np.ones(2), 0.0, "bucket width 0.0"),
])
def test_bad_buckets_are_refused(arrivals: np.ndarray, bucket_s: float, needle: str) -> None:
    with pytest.raises(QueueingError, match="give") as caught:
        bucket_latency(arrivals, bucket_s, 1.0, 10, 30.0)
    assert needle in str(caught.value)


# --- the scenario's queues ------------------------------------------------------------------


def test_each_action_of_the_scenario_gets_its_queue() -> None:
    scenario = load_scenario()
    queues = ActionQueues.from_scenario(scenario)
    assert set(queues.queues) == set(scenario.backend_model.actions)
    assert queues.for_action("open_envelope") == ActionQueue("open_envelope", 0.025, 200, 3.0)
    arrivals = np.full(4, 1000.0 * 60)
    direct = bucket_latency(arrivals, 60.0, 0.025, 200, 3.0)
    assert np.array_equal(queues.latency("open_envelope", arrivals, 60.0).p95_ms, direct.p95_ms)
    assert queues.for_action("login").figures(1000.0) == erlang_c(1000.0, 0.02, 200)


def test_an_action_without_a_queue_names_the_fix() -> None:
    with pytest.raises(QueueingError, match="add 'dance: {service_time: ...") as caught:
        ActionQueues.from_scenario(load_scenario()).for_action("dance")
    assert "open_envelope" in str(caught.value)


def test_the_public_names_are_sorted_and_exist() -> None:
    for module in (erlang, queueing):
        assert module.__all__ == sorted(module.__all__)
        assert all(hasattr(module, name) for name in module.__all__)
