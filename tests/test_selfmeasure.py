"""The generator's self-measurement (swarm/selfmeasure.py), in simulated time."""

from __future__ import annotations

import math

import pytest

from rehearse.swarm.selfmeasure import CpuMeter, LagFigures, LoopLag, ProcessLoad, SelfMeasure, combine, p95


class FakeTime:
    """A clock whose sleep(s) advances it by s plus the next lateness given (seconds)."""

    def __init__(self, lateness: list[float]) -> None:
        self.now = 1000.0
        self.lateness = list(lateness)
        self.asked: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.now += seconds + self.lateness.pop(0)


def test_lag_is_how_late_each_wake_up_came_against_the_wait_asked_for() -> None:
    time = FakeTime([0.0, 0.002, 0.050])
    lag = LoopLag(time.sleep, time.clock, interval=0.1)
    assert [round(lag.tick(), 6) for _ in range(3)] == [0.0, 2.0, 50.0]
    assert time.asked == [0.1, 0.1, 0.1]


def test_take_gives_the_period_p95_and_max_then_starts_a_new_period() -> None:
    # 20 wake-ups: 18 on time, one 30 ms late, one 200 ms late -> p95 (19th of 20) is 30 ms
    time = FakeTime([0.0] * 18 + [0.030, 0.200] + [0.001] * 4)
    lag = LoopLag(time.sleep, time.clock, interval=0.1)
    lag.run(ticks=20)
    first = lag.take()
    assert (round(first.p95_ms, 6), round(first.max_ms, 6), first.samples) == (30.0, 200.0, 20)
    lag.run(ticks=4)
    second = lag.take()
    assert (round(second.p95_ms, 6), round(second.max_ms, 6), second.samples) == (1.0, 1.0, 4)


def test_a_period_without_wake_ups_has_no_figures_not_zero() -> None:
    lag = LoopLag(lambda s: None, lambda: 0.0)
    figures = lag.take()
    assert math.isnan(figures.p95_ms) and math.isnan(figures.max_ms) and figures.samples == 0


def test_an_early_wake_up_counts_as_on_time() -> None:
    time = FakeTime([-0.0005])
    lag = LoopLag(time.sleep, time.clock, interval=0.1)
    assert lag.tick() == 0.0


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be above 0"):
        LoopLag(lambda s: None, interval=0)


def test_p95_is_nearest_rank() -> None:
    assert p95([5.0]) == 5.0
    assert p95([float(i) for i in range(1, 101)]) == 95.0
    assert math.isnan(p95([]))


def test_cpu_percent_is_process_time_over_wall_time_per_period() -> None:
    cpu, wall = [10.0], [500.0]
    meter = CpuMeter(lambda: cpu[0], lambda: wall[0])
    cpu[0], wall[0] = 10.8, 501.0  # 0.8 s of CPU in 1 s
    assert meter.take() == pytest.approx(80.0)
    cpu[0], wall[0] = 11.0, 503.0  # 0.2 s in the next 2 s
    assert meter.take() == pytest.approx(10.0)
    assert math.isnan(meter.take())  # no wall time passed


def test_self_measure_reads_lag_and_cpu_together() -> None:
    time = FakeTime([0.004] * 10)
    cpu = [0.0]

    def sleep(seconds: float) -> None:
        time.sleep(seconds)
        cpu[0] += 0.05  # half of each 0.1 s interval busy

    measure = SelfMeasure(sleep, time.clock, lambda: cpu[0], interval=0.1)
    measure.lag.run(ticks=10)
    load = measure.take()
    assert round(load.loop_lag_ms, 6) == 4.0 and round(load.loop_lag_max_ms, 6) == 4.0
    assert load.cpu_percent == pytest.approx(100 * 0.5 / 1.04)


def test_a_worker_report_round_trips_and_the_master_keeps_the_worst() -> None:
    worker = ProcessLoad(loop_lag_ms=12.0, loop_lag_max_ms=40.0, cpu_percent=97.0)
    assert ProcessLoad.from_report(worker.as_report()) == worker
    master = ProcessLoad(loop_lag_ms=1.0, loop_lag_max_ms=2.0, cpu_percent=5.0)
    idle = ProcessLoad.from_report({})
    assert combine([master, worker, idle]) == (12.0, 97.0)
    assert all(math.isnan(x) for x in combine([idle]))


def test_lag_figures_are_plain_data() -> None:
    assert LagFigures(1.0, 2.0, 3) == LagFigures(p95_ms=1.0, max_ms=2.0, samples=3)


def test_the_runtime_writes_the_generator_figures_into_its_gauges_row(tmp_path) -> None:
    from rehearse.observations import load_run
    from rehearse.swarm.runtime import SwarmRuntime
    from rehearse.swarm.settings import SwarmSettings

    clock = [100.0]
    # port 9 (discard): nothing listens, so the target's ledger and link pool stay unmeasured
    runtime = SwarmRuntime(SwarmSettings(run_dir=tmp_path, scale=100), "local", "http://127.0.0.1:9",
                           ticker=lambda: clock[0])
    runtime.started = clock[0]
    row = runtime.sample(80, 12.0, 12, 0, arrivals=3, loop_lag_ms=4.5, cpu_percent=87.5)
    assert (row["loop_lag_ms"], row["cpu_percent"]) == (4.5, 87.5)
    clock[0] += 1.0
    assert "loop_lag_ms" not in runtime.sample(80, 10.0, 10, 0)  # not measured: left empty
    runtime.close()
    gauges = load_run(tmp_path).gauges
    assert gauges["loop_lag_ms"].tolist()[0] == 4.5 and gauges["cpu_percent"].tolist()[0] == 87.5
    assert gauges[["loop_lag_ms", "cpu_percent"]].iloc[1].isna().all()
