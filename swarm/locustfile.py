"""The swarm as Locust sees it: participants arriving as the scenario says (an open model),
Locust users as slots that play them, a shape that holds enough slots, and the listeners that
keep observations (the greenlets beside the users are in swarm/loops.py, how the process stops
in swarm/stopping.py). The repository's top-level
`locustfile.py` imports this module (`rehearse.swarm.locustfile`), so QA can run plain Locust
from a checkout or from their own repository with a copy of that file:

    locust -f locustfile.py --host http://127.0.0.1:8700 --ops-token TOKEN
    locust -f locustfile.py --headless --host http://127.0.0.1:8700 --run-dir runs/x

Options (besides Locust's): --scenario, --set PATH=VALUE, --window, --max-slots, --scale 1:K,
--compress X, --rehearse-duration D, --run-dir, --ops-token (or REHEARSE_OPS_TOKEN),
--rehearse-seed, --lane L/N, --allow-remote. `rehearse swarm` (and the main job) pass none of
these: their load processes read the run's settings from one file, --rehearse-spec.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

import gevent
import gevent.pool
import gevent.queue
from gevent import GreenletExit
from locust import FastHttpUser, LoadTestShape, constant, events, task
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING, MasterRunner, WorkerRunner

from rehearse.scenarios.errors import RehearseError, RunInterrupted
from rehearse.client.contract import RequestSpec
from rehearse.client.player import Answer, NotSent
from rehearse.swarm.runtime import SwarmRuntime
from rehearse.swarm.selfmeasure import ProcessLoad, SelfMeasure, host_cpu_percent
from rehearse.client.safety import MAX_REDIRECTS, OffLimits, check_host, url_safe
from rehearse.swarm.loops import (dispatch, flush_every_second, play_incidents, play_rehearsal, sample_every_second,
                                  waiting)
from rehearse.swarm.settings import SwarmSettings
from rehearse.swarm.stopping import ENVIRONMENT, take_stop_signals, watch_parent

log = logging.getLogger("rehearse.swarm")


class StoppedBeforeSending(NotSent, GreenletExit):
    """The user is stopping: the next request is not sent (and so not recorded)."""


class ParticipantSlot(FastHttpUser):
    """A slot: takes the next participant due (a scheduled arrival or an invitee a sharer's link
    brought), plays its journey once, and takes the next. Slots never pick a persona: who comes
    and when is the scenario's (swarm/arrivals.py), so concurrency emerges as in the campaign."""

    wait_time = constant(0)
    network_timeout = 10.0
    connection_timeout = 5.0
    _stop_due = False  # stopped mid-burst: stop at the next step, once the burst is recorded

    def on_start(self) -> None:
        # A slot plays many participants: each keeps its own cookie jar in its session (the
        # contract sends it), so the slot's client keeps none. Redirects are answers: the client
        # never follows one by itself (a Location could aim the load anywhere); _send follows
        # those the mapping opts into, on the target only.
        self.client.client.cookiejar = None
        # geventhttpclient types it a ClassVar but reads it per instance (Locust sets it so too)
        self.client.client.redirect_response_codes = frozenset()  # type: ignore[misc]

    @task
    def participate(self) -> None:
        if self._stop_due:
            # Locust's kill came while a burst's copies were landing (held for them, _send_burst)
            # and the journey had no step left to stop at: let it go now, or Locust's stop waits
            # for this slot forever (it kills a user once)
            raise GreenletExit
        runtime: SwarmRuntime | None = getattr(self.environment, "rehearse", None)
        due: gevent.queue.Queue | None = getattr(self.environment, "rehearse_due", None)
        if runtime is None or runtime.started is None or due is None or runtime.stopping():
            gevent.sleep(0.2)  # nothing to play (yet, or any more: the harness is stopping)
            return
        arrival = due.get()  # an idle slot waits here, at no cost
        user = runtime.begin(arrival)
        try:
            runtime.player.play(user, self._send_unless_stopped, self._sleep, send_burst=self._send_burst)
        except StoppedBeforeSending:
            if self._stop_due:
                raise  # Locust is killing this user: let it go
            # the harness is stopping: the journey ends here, the slot idles until Locust stops it
        finally:
            runtime.end(user)
            if runtime.plan.steps:  # a step load replaces a participant as it leaves, not at the next tick
                for replacement in runtime.due_arrivals():
                    due.put(replacement)

    def _send_burst(self, specs: list[RequestSpec]) -> list[Answer]:
        """The copies of a request at once, each in its own greenlet (a script's race)."""
        if self._stop_due:
            raise StoppedBeforeSending
        greenlets = [gevent.spawn(self._send, spec) for spec in specs]
        try:
            gevent.joinall(greenlets)
        except GreenletExit:
            # Stopped while the copies were on the wire: they are answered (and counted) in their
            # own greenlets, so let them land and be recorded, and stop at the next step.
            self._stop_due = True
            deadline = time.monotonic() + self.network_timeout
            while not all(g.ready() for g in greenlets) and time.monotonic() < deadline:
                try:
                    gevent.joinall(greenlets, timeout=deadline - time.monotonic())
                except GreenletExit:
                    continue  # asked again: the copies still land first
        return [g.value if g.successful() else (0, b"", 0.0) for g in greenlets]

    def _send_unless_stopped(self, spec: RequestSpec) -> Answer:
        if self._stop_due or self.environment.rehearse.stopping():
            raise StoppedBeforeSending  # the harness is stopping: nothing new goes out
        return self._send(spec)

    def _sleep(self, seconds: float) -> None:
        if self._stop_due:
            raise GreenletExit
        gevent.sleep(seconds)

    def _send(self, spec: RequestSpec) -> Answer:
        """The transport seam: the filled request checked against the run's target, sent,
        and (where the mapping opts in) its redirects followed on the target only."""
        runtime: SwarmRuntime = self.environment.rehearse
        url = url_safe(spec.path) + (("&" if "?" in spec.path else "?") + _query(tuple(spec.query.items()))
                                     if spec.query else "")
        headers = spec.headers
        if spec.host:
            headers["Host"] = spec.host
        try:
            runtime.allowed.check(url, headers, spec.action)
        except OffLimits as exc:  # a mapping that aims the load elsewhere: the run ends, bad input
            runtime.fail(str(exc), OffLimits.exit_code)
            raise StoppedBeforeSending from None
        started = time.perf_counter()
        status, body, answer_headers = self._request(runtime, spec.action, spec.method, url, headers, spec.json)
        if runtime.follows_redirects(spec.action):
            method, body_json = spec.method, spec.json
            for _ in range(MAX_REDIRECTS):
                hop = runtime.allowed.next_hop(url, status, answer_headers)
                if hop is None:  # not a redirect, or aimed elsewhere: this is the answer
                    break
                if status == 303 or (status in (301, 302) and method == "POST"):
                    method, body_json = "GET", None
                url = hop
                status, body, answer_headers = self._request(runtime, spec.action, method, url, headers, body_json)
        # counted once answered: a user stopped mid-request has neither a row nor a count
        runtime.sent += 1
        return status, body, (time.perf_counter() - started) * 1000, answer_headers

    def _request(self, runtime: SwarmRuntime, action: str, method: str, url: str, headers: dict,
                 body_json) -> tuple[int, bytes, object]:
        with self.client.request(method, url, name=action, headers=headers, json=body_json,
                                 catch_response=True) as response:
            status = response.status_code or 0
            body = response.content or b""
            if status in runtime.refusal_statuses(action):
                response.success()  # refused by the campaign's rules: behaviour, not failure
            elif runtime.judges_body(action) and not runtime.answer_ok(action, status, body):
                response.failure("not ok by the body")  # a business code in a 200: Locust counts it
        return status, body, response.headers


@lru_cache(maxsize=4096)
def _query(items: tuple) -> str:
    """Encoded query strings: few distinct ones (channels), so encode each once."""
    return urlencode(items)


class CampaignShape(LoadTestShape):
    """Slots for the participants the window brings (the expected concurrency ahead, with a
    margin, more when arrivals wait), added at a pace that keeps ahead of them; the run ends
    with the window."""

    def tick(self) -> tuple[int, float] | None:
        runner = self.runner
        assert runner is not None  # Locust hands a shape its runner before it ticks
        runtime: SwarmRuntime | None = getattr(runner.environment, "rehearse", None)
        if runtime is None:
            return None
        held = getattr(self, "_last", None)
        if runtime.starting and held is not None:
            # the run's start-up (early birds, the target's clock, its books) is still asking a
            # slow target: a new user count now would make Locust kill it and start the run again
            return held
        run_time = self.get_run_time()
        if run_time >= runtime.plan.duration_s or runtime.stopped_early:
            return None
        current = runner.user_count
        load = runtime.load_figures(waiting(runner.environment))
        slots = runtime.slots_at(run_time, current, load["active"], load["waiting"])
        # idle slots cost nothing until an arrival is due: reach the target within a few seconds
        self._last = slots, float(max(SPAWN_RATE_MIN, (slots - current) / SPAWN_SECONDS))
        return self._last


SPAWN_RATE_MIN = 20.0
SPAWN_SECONDS = 3.0


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    group = parser.add_argument_group("rehearse", "the campaign to rehearse")
    group.add_argument("--scenario", default="", help="scenario YAML (default: the bundled one)")
    group.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="what-if override")
    group.add_argument("--window", default="", help="traffic window to play (default: the peak gate's)")
    group.add_argument("--max-slots", type=int, default=0,
                       help="Locust users (slots) at most (default: as many as the arrivals need)")
    group.add_argument("--scale", default="", help="1:K, the run plays one participant in K "
                       "(default 1:100; 1:1 with --steps)")
    group.add_argument("--compress", type=float, default=0.0, help="campaign seconds per wall second")
    group.add_argument("--rehearse-duration", default="", help="wall time to play the window in")
    group.add_argument("--run-dir", default="", help="where observations go (default: runs/swarm-TIME)")
    group.add_argument("--ops-token", default="", env_var="REHEARSE_OPS_TOKEN",
                       help="token for the target's operations hooks")
    group.add_argument("--rehearse-seed", type=int, default=None, help="seed (default: the scenario's)")
    group.add_argument("--drill", default="", help="a drill of the scenario to play (rehearse drill --live)")
    group.add_argument("--ban-at", default="", help="ban a domain the target is issuing this far into the "
                       "window (campaign time, e.g. 20m), measured by a prober asking for share links")
    group.add_argument("--race-at", default="", help="cut a prize pool small this far into the window and "
                       "race its payouts with fresh participants")
    group.add_argument("--racers", type=int, default=0, help="participants in the budget race (default 40)")
    group.add_argument("--money-left", default="", help="POOL=FEN,...: each pool's money when the run began, "
                       "by the harness's reckoning of earlier phases (written by `rehearse run`)")
    group.add_argument("--steps", default="", help="a step load: participants active in each step, e.g. "
                       "1000,2000,4000 (real time, 1:1; the window's participants paced by concurrency)")
    group.add_argument("--step-duration", default="", help="wall time of each step (default 20s)")
    group.add_argument("--preheat-probe", action="store_true", default=False,
                       help="before the window, a few participants try to take part in the preheat")
    group.add_argument("--flagged-probe", action="store_true", default=False,
                       help="at the window's start, a few virtual and blacklisted numbers try to log in")
    group.add_argument("--lane", default="", help="L/N: this phase's participants of a rehearsal, never the same "
                       "phones, addresses or ids as another lane's (default: 0/1)")
    group.add_argument("--rehearse-spec", default="", help="the run's settings as `rehearse` writes them for its "
                       "load processes (instead of the flags above)")
    group.add_argument("--allow-remote", action="store_true", default=False,
                       help="allow a non-loopback --host listed in the scenario's allow-list")


def _role(runner) -> str:
    if isinstance(runner, MasterRunner):
        return "master"
    return "worker" if isinstance(runner, WorkerRunner) else "local"


def _attach(environment) -> SwarmRuntime | None:
    """Build this process's runtime; a bad setting stops the run with one line and exit code 2."""
    runtime = getattr(environment, "rehearse", None)
    if runtime is not None:
        return runtime
    runner = environment.runner
    options = environment.parsed_options
    try:
        spec = getattr(options, "rehearse_spec", "") if options is not None else ""
        settings = (SwarmSettings.read_spec(Path(spec), getattr(options, "ops_token", None)) if spec
                    else SwarmSettings.from_options(options) if options is not None else SwarmSettings())
        if not environment.host:
            raise RehearseError("--host is required: the campaign backend's URL, e.g. http://127.0.0.1:8700")
        scenario = settings.load()
        check_host(environment.host, bool(getattr(options, "allow_remote", False)),
                   scenario.target.allow_remote_hosts)
        worker_id = str(getattr(runner, "client_id", "local")) if _role(runner) == "worker" else "main"
        runtime = SwarmRuntime(settings, _role(runner), environment.host.rstrip("/"), worker_id)
    except RehearseError as exc:
        log.error("rehearse: error: %s", exc)
        environment.process_exit_code = 2
        environment.rehearse = None
        gevent.spawn_later(0.1, runner.quit)
        return None
    environment.rehearse = runtime
    return runtime


@events.init.add_listener
def _on_init(environment, runner=None, **_kwargs) -> None:
    ENVIRONMENT["current"] = environment
    take_stop_signals()
    environment.rehearse = None
    environment.rehearse_stopping = False
    environment.rehearse_started = False
    environment.rehearse_gauges = None
    environment.rehearse_incidents = None
    environment.rehearse_rehearsal = None
    environment.rehearse_flusher = None
    environment.rehearse_due = None
    environment.rehearse_dispatcher = None
    environment.rehearse_measure = SelfMeasure(gevent.sleep)  # this process's event-loop lag and CPU
    environment.rehearse_loads = {}  # master: worker id -> its ProcessLoad of the last report
    environment.rehearse_lag = None
    environment.rehearse_watch = gevent.spawn(watch_parent, environment)
    if environment.host:
        _attach(environment)
    if isinstance(runner, WorkerRunner):
        runner.register_message("rehearse_share", _take_share)
        environment.events.report_to_master.add_listener(
            lambda client_id, data: _report_load(environment, data))
    elif isinstance(runner, MasterRunner):
        environment.events.worker_report.add_listener(
            lambda client_id, data: _merge_load(environment, client_id, data))


def _take_share(environment, msg, **_kwargs) -> None:
    """A worker learns which of the run's arrivals it plays (sent by the master at the start)."""
    runtime = _attach(environment)
    if runtime is not None:
        runtime.assign_share(int(msg.data["index"]), int(msg.data["count"]))


def _report_load(environment, data: dict) -> None:
    """A worker's figures for the master, with each stats report (every few seconds)."""
    runtime = getattr(environment, "rehearse", None)
    if runtime is not None and runtime.started is not None:
        data["rehearse"] = runtime.load_report(waiting(environment))
        data["rehearse_load"] = environment.rehearse_measure.take().as_report()


def _merge_load(environment, client_id: str, data: dict) -> None:
    runtime = getattr(environment, "rehearse", None)
    if runtime is not None and "rehearse" in data:
        runtime.merge_report(client_id, data["rehearse"])
    if "rehearse_load" in data:
        environment.rehearse_loads[client_id] = ProcessLoad.from_report(data["rehearse_load"])


def _share_arrivals(runner) -> None:
    """The master splits the run's arrivals between the workers connected now: each plays every
    Nth. (Messages arrive in order, so each worker has its share before its first slots.)"""
    workers = sorted(node.id for node in runner.clients.ready + runner.clients.running + runner.clients.spawning)
    for index, client_id in enumerate(workers):
        runner.send_message("rehearse_share", {"index": index, "count": len(workers)}, client_id=client_id)


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs) -> None:
    runtime = _attach(environment)
    if runtime is None:
        return
    if environment.rehearse_started:  # the web UI's second start: one run, one folder
        log.error("rehearse: error: this load process has played its run into %s; a run folder holds one "
                  "run: restart Locust (with another --run-dir) for the next", runtime.run_dir)
        gevent.spawn(environment.runner.stop)
        return
    environment.rehearse_started = True
    if runtime.role == "master":
        _share_arrivals(environment.runner)
    runtime.start()
    environment.rehearse_measure.take()  # start-up is not the first period
    host_cpu_percent()
    environment.rehearse_lag = gevent.spawn(environment.rehearse_measure.run)
    environment.rehearse_flusher = gevent.spawn(flush_every_second, runtime)
    if runtime.role in ("local", "worker"):
        environment.rehearse_due = gevent.queue.Queue()
        environment.rehearse_dispatcher = gevent.spawn(dispatch, runtime, environment.rehearse_due)
    if runtime.role in ("local", "master"):
        environment.rehearse_gauges = gevent.spawn(sample_every_second, environment, runtime)
        if runtime.incidents is not None:
            environment.rehearse_incidents = gevent.spawn(play_incidents, runtime.incidents)
        if runtime.prober is not None or runtime.race is not None:
            environment.rehearse_rehearsal = gevent.spawn(play_rehearsal, runtime)


@events.test_stopping.add_listener
def _on_test_stopping(environment, **_kwargs) -> None:
    """The users are about to be stopped: from now on nothing new is sent, and a request cut on
    the wire is the harness's doing (`unanswered`)."""
    runtime = getattr(environment, "rehearse", None)
    if runtime is not None and runtime.started is not None:
        ended = runtime.completed()
        runtime.begin_stop("the run's window ended" if ended else (runtime.fatal or "the run was stopped"),
                           early=not ended)


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs) -> None:
    for name in ("rehearse_dispatcher", "rehearse_lag", "rehearse_flusher", "rehearse_incidents",
                 "rehearse_rehearsal"):
        greenlet = getattr(environment, name, None)
        if greenlet is not None and greenlet is not gevent.getcurrent():
            # the rehearsal's own participants (a race's racers) end before the run is saved:
            # one still playing after it would find the writer closed (a false "interrupted")
            greenlet.kill(block=name == "rehearse_rehearsal", timeout=10)
            setattr(environment, name, None)
    gauges = getattr(environment, "rehearse_gauges", None)
    if gauges is not None and gauges is not gevent.getcurrent():
        gauges.kill(block=False)
        environment.rehearse_gauges = None
    runtime = getattr(environment, "rehearse", None)
    if runtime is not None and runtime.fatal is None:
        try:
            runtime.writer.flush()
        except RehearseError as exc:  # the close tries again, and says so
            runtime.fail(f"could not save the run's rows ({exc}); the rows written before are kept in "
                         f"{runtime.run_dir}", RunInterrupted.exit_code)
    if runtime is not None and runtime.fatal is not None:
        environment.process_exit_code = runtime.fatal_code  # headless, the shape's end quits


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs) -> None:
    """Locust is shutting down: stop the users first (Locust stops them only after this event),
    then save the run and say how it ended."""
    runtime = getattr(environment, "rehearse", None)
    if runtime is None:
        return
    runtime.begin_stop(runtime.fatal or "Locust is shutting down")
    if environment.runner is not None and environment.runner.state not in (STATE_STOPPED, STATE_STOPPING,
                                                                            STATE_CLEANUP):
        environment.runner.stop()
    try:
        runtime.close()
    except RehearseError as exc:
        log.error("rehearse: error: the run in %s could not be saved whole (%s); it is marked interrupted "
                  "and keeps what was written", runtime.run_dir, exc)
        environment.process_exit_code = RunInterrupted.exit_code
    if runtime.fatal is not None:
        environment.process_exit_code = runtime.fatal_code
    log.info("rehearse: %s sent %d requests", runtime.role, runtime.sent)
    environment.rehearse = None
