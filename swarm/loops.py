"""The greenlets a load process runs beside its users: handing due participants to the slots,
a drill's incidents, the rehearsal's prober and budget race, writing the rows each second and
sampling the gauges each second."""

from __future__ import annotations

import logging

import gevent
import gevent.pool
import gevent.queue

from rehearse.client.safety import OffLimits
from rehearse.scenarios.errors import RehearseError, RunInterrupted
from rehearse.swarm.incidents import LiveIncidents
from rehearse.swarm.rehearsal import PROBES_PER_S, Race
from rehearse.swarm.runtime import SwarmRuntime
from rehearse.swarm.selfmeasure import combine, host_cpu_percent
from rehearse.swarm.volley import Volley

log = logging.getLogger("rehearse.swarm")


def waiting(environment) -> int:
    due = getattr(environment, "rehearse_due", None)
    return due.qsize() if due is not None else 0


DISPATCH_TICK_S = 0.02


def dispatch(runtime: SwarmRuntime, due: gevent.queue.Queue) -> None:
    """Hand each participant to the slots when it is due (checked every DISPATCH_TICK_S, or
    sooner when the next arrival is sooner)."""
    while True:
        for arrival in runtime.due_arrivals():
            due.put(arrival)
        gevent.sleep(max(0.001, min(DISPATCH_TICK_S, runtime.next_due_in())))


def play_incidents(incidents: LiveIncidents) -> None:
    """A drill's incidents, each at its campaign time (checked ten times a wall second)."""
    while True:
        try:
            incidents.tick()
        except Exception as exc:  # a failed operations call must not stop the run
            log.error("rehearse: drill incident failed: %s", exc)
        gevent.sleep(0.1)


def play_rehearsal(runtime: SwarmRuntime) -> None:
    """The rehearsal's prober (a share link PROBES_PER_S times a wall second, and the ban when
    due) and its budget race (once, when due)."""
    raced = False
    while True:
        try:
            runtime.probe()
            if runtime.race is not None and not raced and runtime.due(runtime.settings.rehearsal.race_at):
                raced = True
                race(runtime, runtime.race)  # a second or two; the prober waits
        except OffLimits as exc:  # the mapping aims the harness's own requests elsewhere: bad input
            runtime.fail(str(exc), OffLimits.exit_code)
            return
        except Exception as exc:  # a failed probe must not stop the run
            log.error("rehearse: rehearsal incident failed: %s", exc)
        gevent.sleep(1.0 / PROBES_PER_S)


def race(runtime: SwarmRuntime, race: Race) -> None:
    """Bring every racer to the envelope, cut the pool, then all tap in one volley."""
    preparing, tapping = gevent.pool.Pool(20), gevent.pool.Group()
    try:
        # spawned from here (not Pool.map, whose own spawner would outlive this greenlet's end)
        coming = [preparing.spawn(race.prepare, runtime.rehearsal_send) for _ in range(race.size())]
        preparing.join()
        failed = next((g.exception for g in coming if g.exception is not None), None)
        if failed is not None:
            raise failed
        ready = [g.value for g in coming if g.value is not None]
        if not ready:
            return
        race.cut()  # without limit_pool the racers tap all the same, against what the pool holds
        volley = Volley(runtime.host, shooters=len(ready))
        refused: list[OffLimits] = []

        def tap(racer) -> None:
            try:
                race.open(racer, runtime.rehearsal_send, volley.burst)
            except OffLimits as exc:
                refused.append(exc)

        for racer in ready:
            tapping.spawn(tap, racer)
        tapping.join(timeout=30)
    finally:  # the run ending mid-race (this greenlet killed) ends its racers too, before the run is saved
        preparing.kill(timeout=5)
        tapping.kill(timeout=5)
    if refused:
        raise refused[0]
    runtime.writer.event(runtime.now(), "race_end", f"{len(ready)} of {race.racers} racers reached the envelope")


def flush_every_second(runtime: SwarmRuntime) -> None:
    """Rows reach disk within a second of being answered: a process killed after its grace
    (a second Ctrl-C, a SIGKILL) loses at most the last second, never the run. A write that
    fails (a disk full) ends the run at once, keeping what was written."""
    while not runtime.writer.closed:
        gevent.sleep(1.0)
        if runtime.writer.closed:
            return
        try:
            runtime.writer.flush()
        except RehearseError as exc:
            runtime.fail(f"could not save the run's rows ({exc}); the rows written before are kept in "
                         f"{runtime.run_dir}", RunInterrupted.exit_code)
            return


def sample_every_second(environment, runtime: SwarmRuntime) -> None:
    seen_requests = seen_failures = seen_arrived = 0
    while True:
        gevent.sleep(1.0)
        total = environment.runner.stats.total
        requests, failures = total.num_requests - seen_requests, total.num_failures - seen_failures
        seen_requests, seen_failures = total.num_requests, total.num_failures
        load = runtime.load_figures(waiting(environment), reset=True)
        arrivals, seen_arrived = load["arrived"] - seen_arrived, load["arrived"]
        lag, cpu = combine([environment.rehearse_measure.take(), *environment.rehearse_loads.values()])
        row = runtime.sample(load["active"], float(requests), requests, failures, arrivals=arrivals,
                             slots=environment.runner.user_count, waiting=load["waiting"],
                             arrival_lag_ms=load["lag_p95_ms"], loop_lag_ms=lag, cpu_percent=cpu,
                             host_cpu_percent=host_cpu_percent())
        runtime.progress(row, total.num_requests, total.num_failures)
        if runtime.plan.steps:
            runtime.announce_step()
        if runtime.target_down():
            # End through the shape, the way a run ends normally (a quit from here would race it).
            runtime.stopped_early = True
            runtime.writer.event(runtime.now(), "target_down", "every request failed for 3 s")
            log.error("rehearse: the target stopped answering; ending the run")
            environment.process_exit_code = 1
            return
