"""What one Locust process of a swarm run holds: scenario, plan, contract, platform, player, writer,
and the arrivals it plays.

Roles: "local" (one process plays and observes), "worker" (plays its share of the arrivals,
writes its request parts), "master" (observes: gauges, events, run.json; sizes the slots).
Locust-free, so it is testable on its own; `swarm/locustfile.py` wires it to Locust's events.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import time
import zlib
from collections import Counter
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal

import httpx

from rehearse.observations import GAUGES, REQUESTS, ObservationError, RunInfo, RunWriter
from rehearse.observations.claim import claimed
from rehearse.observations.schema import ACTIVE_BY_MINUTE, CLOCK_START, HARNESS_STOP
from rehearse.personas.identity import Identity, IdentityFactory
from rehearse.personas.steps import Act
from rehearse.scenarios import Scenario
from rehearse.scenarios.errors import RunInterrupted
from rehearse.client.contract import Contract, RequestSpec, follows_our_clock, load_contract
from rehearse.client.http import send
from rehearse.client.safety import Allowed, OffLimits, guarded_client
from rehearse.swarm.incidents import LiveIncidents
from rehearse.swarm.platform import Platform
from rehearse.swarm.arrivals import Schedule, expected_active, schedule_for, slots_wanted
from rehearse.client.player import Answer, Arrival, Player
from rehearse.swarm.rehearsal import MAX_UNCUT_RACERS, Prober, Race, early_birds, flagged_numbers, rehearsal_player
from rehearse.swarm.status import SwarmStatus
from rehearse.swarm.settings import SwarmSettings
from rehearse.swarm.shape import Plan
from rehearse.swarm.selfmeasure import p95
from rehearse.swarm.tuning import freeze_start_up, tune_process

# the harness's own measurements: an operation of the target never fills them
_OWN_GAUGES = frozenset({"t", "active_users", "arrivals", "rps", "slots", "waiting", "arrival_lag_ms",
                         "loop_lag_ms", "cpu_percent", "host_cpu_percent"})
TARGET_DOWN_SECONDS = 3  # seconds in a row with every request failing: the target died
MINUTE_S = 60.0
PAYOUT_COLUMN, PRIZE_COLUMN = list(REQUESTS.columns).index("payout_fen"), list(REQUESTS.columns).index("prize")
RAMP_S = 5.0  # a step load reaches each step's number over this many seconds (no herd)
STEP_SLOT_MARGIN = 1.15  # a step load's slots per participant it keeps playing


def default_run_dir(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"swarm-{stamp}"


def run_facts(settings: SwarmSettings, plan: Plan, host: str) -> dict[str, Any]:
    """What run.json's extra says about a swarm run (the command writes it first, Locust again)."""
    rehearsal = settings.rehearsal
    incidents = {k: v for k, v in (("ban_at", rehearsal.ban_at), ("race_at", rehearsal.race_at)) if v is not None}
    if rehearsal.race_at is not None:
        incidents["racers"] = rehearsal.racers
    if rehearsal.preheat:
        incidents["preheat"] = True
    if rehearsal.flagged:
        incidents["flagged"] = True
    steps = {"steps": list(plan.steps), "step_s": plan.step_s} if plan.steps else {}
    return {"host": host, "window": plan.window_name, **({"max_slots": plan.max_slots} if settings.users else {}),
            **steps,
            "duration_s": round(plan.duration_s, 3), **settings.extra,
            **({"drill": settings.drill} if settings.drill else {}),
            **({"rehearsal": incidents} if incidents else {})}


class SwarmRuntime:
    """One load process's state for a swarm run."""

    def __init__(self, settings: SwarmSettings, role: str, host: str, worker_id: str = "local",
                 ticker: Callable[[], float] = time.monotonic) -> None:
        tune_process()  # thousands of users per process (swarm/tuning.py)
        self.settings = settings
        self.role = role
        self.host = host
        self.scenario: Scenario = settings.load()
        self.plan: Plan = settings.plan(self.scenario)
        self.contract: Contract = load_contract(self.scenario.target)
        self.run_dir = settings.run_dir or default_run_dir()
        self.ticker = ticker
        self.started: float | None = None
        self.starting = False  # in `start`: the target's books being read, its clock set (the shape holds)
        self.stopped_early = False
        self.active = 0  # participants in their journeys now (this process)
        self.arrived = 0  # participants who started their journey (this process)
        self._lags_ms: list[float] = []  # how late each arrival started, since the last sample
        self._playing: dict[str, int] = {}  # user key -> the campaign minute its journey began
        self._minutes: dict[int, int] = {}  # campaign minute -> change in participants playing then
        self._workers: dict[str, dict[str, Any]] = {}  # master: the latest figures of each worker
        self.schedule: Schedule | None = None  # the arrivals this process plays (workers: once assigned)
        self.released = 0  # arrivals handed to the slots (this process)
        self._share = (0, 1)
        self._step = -1  # the step load's step announced last (local, master)
        self.expected: Any = None  # local, master: participants expected at once per wall second
        self.sent = 0  # requests this process sent and got an answer to
        self.allowed = Allowed(host)  # every request is checked against it where it is sent
        self.stop_reason: str | None = None  # why the harness is stopping (None: it plays on)
        self.fatal: str | None = None  # a fault of the harness's own that ended the run
        self.fatal_code = 0  # the exit code it gives the load process
        self._parent = os.getppid()  # the command that started this process (see harness_gone)
        self._claim = ExitStack()
        if role in ("local", "master"):  # one run, one folder (a folder claimed by our parent is ours)
            self._claim.enter_context(claimed(self.run_dir))
        seed = self.scenario.seed if settings.seed is None else settings.seed
        self.seed = seed
        salt = zlib.crc32(worker_id.encode())
        self.ops_params = {"ops_token": settings.ops_token} if settings.ops_token else {}
        logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per operations call
        self.ops_http = guarded_client(host, timeout=5)
        info = None
        if role in ("local", "master"):
            info = RunInfo.start(self.scenario, engine="swarm", seed=seed, scale=self.plan.scale,
                                 compress=self.plan.compress, extra=self._extra())
        writer_id = re.sub(r"[^A-Za-z0-9_-]", "-", worker_id)[:40]
        self.writer = RunWriter(self.run_dir, info, writer_id=writer_id)
        # a campaign without share links has no platform to ban them
        self.platform = None if self.scenario.links is None else Platform(
            self.scenario.links, clock=self.now, scale=self.plan.scale, on_ban=self._on_ban)
        prefix = "" if role in ("local", "master") else f"{writer_id}/"  # keys unique across workers
        identities = IdentityFactory(self.scenario, seed + salt, prefix, *settings.lane)
        self.player = Player(self.scenario, self.contract, identities,
                             random.Random(seed + salt), clock=self.now, compress=self.plan.compress,
                             record=self._record, platform=self.platform, stopping=self.stopping)
        if role in ("local", "master"):
            self.expected = expected_active(self.scenario, self.plan, seed)
        if role == "local":
            self.assign_share(0, 1)
        self.incidents = (self._incidents(settings.drill, seed + salt) if settings.drill and role in ("local", "master")
                          else None)
        self._failures_in_a_row = 0
        self._refusals: dict[str, frozenset[int]] = {}
        self._body_judged: dict[str, bool] = {}
        self._follows: dict[str, bool] = {}
        self.prober: Prober | None = None
        self.race: Race | None = None
        self.rehearsal_http: httpx.Client | None = None
        self._banned = False
        plan = settings.rehearsal
        self.paid_fen: Counter[str] = Counter()  # what this process saw paid from each prize pool
        cuttable = self.scenario.target.operations.get("limit_pool") is not None
        if role in ("local", "master") and (plan.ban_at is not None or plan.race_at is not None or plan.preheat
                                            or plan.flagged):
            connections = (plan.racers if cuttable else max(plan.racers, MAX_UNCUT_RACERS)) * plan.copies + 10
            self.rehearsal_http = guarded_client(host, timeout=10,
                                                 limits=httpx.Limits(max_connections=connections))
            player, identities = rehearsal_player(self.scenario, self.contract, seed + salt + 7919, self.now,
                                                  self._record, settings.lane)
            self.prober = Prober(player, identities, self.rehearsal_send) if plan.ban_at is not None else None
            self.race = Race(self.scenario, player, identities, plan, self.operation, self.writer.event,
                             self.now, cuttable, self.paid_fen.__getitem__) if plan.race_at is not None else None

    def _incidents(self, name: str, seed: int) -> LiveIncidents:
        """The drill's incidents, played against this run's platform and target."""
        from rehearse.scenarios.drills import window_of

        drill = self.scenario.drills[name]
        start, _ = window_of(drill, self.scenario.traffic.windows)
        mix = self.scenario.personas.mix.weights()
        return LiveIncidents(drill, start, self.plan.scale, self.scenario.links, self.now, self.platform,
                             self.operation, self.writer.event, os.environ.get("REHEARSE_OTP_SECRET", ""),
                             fraud_share=mix["fraud_script"] / max(1e-9, sum(mix.values())),
                             largest_payout_fen=self.scenario.largest_payouts(), rng=random.Random(seed))

    def persona_for(self, persona: str) -> str:
        """The persona the next participant plays (a drill's fraud wave turns some into scripts)."""
        return self.incidents.persona_for(persona) if self.incidents is not None else persona

    # --- arrivals (an open model: participants come when the scenario says) ------------------

    def assign_share(self, index: int, count: int) -> None:
        """Play every `count`th of the run's arrivals, from the `index`th (a worker's share)."""
        if not 0 <= index < count:
            raise ValueError(f"share {index} of {count}")
        self.schedule = schedule_for(self.scenario, self.plan, self.seed, (index, count))
        self._share = (index, count)

    def due_arrivals(self) -> list[Arrival]:
        """Participants due by now: scheduled arrivals (in a step load, as many as keep the
        step's number playing) and the invitees live sharers brought."""
        now = self.now()
        invitees = self.player.due_invitees(now)
        if self.schedule is None:
            due = []
        elif self.plan.steps:
            room = self.step_target() - (self.active + self.released + len(invitees) - self.arrived)
            due = [replace(a, t=now) for a in self.schedule.take_next(int(room))]
        else:
            due = self.schedule.take_due(now)
        self.released += len(due) + len(invitees)
        return sorted(due + invitees, key=lambda a: a.t) if invitees else due

    def step_target(self) -> float:
        """Participants this process keeps playing now in a step load: its share of the step's
        number, reached over the step's first RAMP_S seconds from the previous step's."""
        plan, elapsed = self.plan, self.elapsed()
        step = plan.step_at(elapsed)
        assert step is not None  # asked in a step load only
        index, count = self._share
        mine = [n // count + (1 if index < n % count else 0) for n in plan.steps]  # this process's share
        previous = mine[step - 1] if step > 0 else 0
        ramp = min(1.0, (elapsed - step * plan.step_s) / min(RAMP_S, plan.step_s / 2))
        return previous + (mine[step] - previous) * ramp

    def announce_step(self) -> None:
        """A step load's `step` event when a new step begins (its number of participants)."""
        step = self.plan.step_at(self.elapsed())
        if step is not None and step != self._step:
            self._step = step
            self.writer.event(self.now(), "step", json.dumps({"step": step, "active": self.plan.steps[step],
                                                              "seconds": self.plan.step_s}))

    def next_due_in(self) -> float:
        """Wall seconds until the next scheduled arrival (inf when none is left)."""
        at = self.schedule.next_t() if self.schedule is not None and not self.plan.steps else None
        return math.inf if at is None else max(0.0, (at - self.now()) / self.plan.compress)

    def begin(self, arrival: Arrival) -> Identity:
        """A slot takes an arrival: its participant, with how late it started recorded."""
        self._lags_ms.append(max(0.0, (self.now() - arrival.t) / self.plan.compress * 1000))
        self.active += 1
        self.arrived += 1
        if arrival.params is None:
            arrival = replace(arrival, persona=self.persona_for(arrival.persona))
        user = self.player.participant(arrival)
        self._playing[user.user_key] = int(self.now() // MINUTE_S)
        return user

    def end(self, user: Identity) -> None:
        """A participant's journey ended (or was cut by the run's end)."""
        self.active -= 1
        first = self._playing.pop(user.user_key, None)
        if first is not None:
            self._count_minutes(first, int(self.now() // MINUTE_S))

    def _count_minutes(self, first: int, last: int) -> None:
        minutes = self._minutes
        minutes[first] = minutes.get(first, 0) + 1
        minutes[last + 1] = minutes.get(last + 1, 0) - 1

    def active_by_minute(self) -> dict[int, int]:
        """Participants playing in each campaign minute (from the minute their journey began to
        the minute it ended; those still playing count to now): the simulator's active users."""
        now = int(self.now() // MINUTE_S)
        changes = dict(self._minutes)
        for first in self._playing.values():
            changes[first] = changes.get(first, 0) + 1
            changes[now + 1] = changes.get(now + 1, 0) - 1
        playing, counts = 0, {}
        for minute in range(min(changes, default=0), max(changes, default=0)):
            playing += changes.get(minute, 0)
            counts[minute] = playing
        return counts

    def load_report(self, waiting: int, reset: bool = True) -> dict[str, Any]:
        """This process's load figures; the start lag's p95 since the last reset (a worker sends
        them to the master every few seconds)."""
        lags = self._lags_ms
        if reset:
            self._lags_ms = []
        return {"active": self.active, "arrived": self.arrived, "waiting": waiting,
                "lag_p95_ms": p95(lags) if lags else None, "at": self.elapsed()}

    def merge_report(self, worker: str, figures: dict[str, Any]) -> None:
        """The master keeps each worker's latest figures."""
        self._workers[worker] = figures

    def load_figures(self, waiting: int, reset: bool = False) -> dict[str, Any]:
        """Participants active, arrived in all, waiting for a slot, and the worst p95 start lag,
        over every process that plays (`reset`: start the next lag period here)."""
        reports = list(self._workers.values()) if self.role == "master" else [self.load_report(waiting, reset)]
        lags = [r["lag_p95_ms"] for r in reports if r.get("lag_p95_ms") is not None]
        return {"active": sum(r["active"] for r in reports), "arrived": sum(r["arrived"] for r in reports),
                "waiting": sum(r["waiting"] for r in reports), "lag_p95_ms": max(lags) if lags else None}

    def slots_at(self, wall_s: float, current: int, active: int, waiting: int) -> int:
        """Locust users (slots) to hold at wall second `wall_s`: the expected concurrency ahead
        with a margin, more when arrivals wait, never fewer than now (a slot is never taken
        away from a participant mid-journey), at most the plan's max_slots."""
        step = self.plan.step_at(wall_s)  # None but in a step load
        if step is not None:  # this step's participants, spawned in its ramp (not in the last step's hold)
            wanted = math.ceil(self.plan.steps[step] * STEP_SLOT_MARGIN) + 10
        else:
            wanted = slots_wanted(self.expected, wall_s) if self.expected is not None else current
        if waiting:
            wanted = max(wanted, active + waiting + 10)
        return max(1, min(self.plan.max_slots, max(current, wanted)))

    def _extra(self) -> dict[str, Any]:
        return {**run_facts(self.settings, self.plan, self.host), "target_clock": self._target_clock()}

    def _target_clock(self) -> str:
        """"campaign" when the target's clock follows the harness's (the contract maps set_clock),
        else "wall": its own timers then run in real time, and so are judged."""
        return "campaign" if follows_our_clock(self.contract) else "wall"

    # --- time ------------------------------------------------------------------------------

    def start(self) -> None:
        """The run starts now: campaign time is the window's start; the target's clock follows.
        The target's books are read first, so what it records paying in the run can be
        cross-checked against what the harness saw it pay."""
        freeze_start_up()  # before the clock starts: the start-up heap out of later collections
        self.started = self.ticker()
        self.starting = True
        try:
            self._start_up()
        finally:
            self.starting = False

    def _start_up(self) -> None:
        if self.role in ("local", "master"):
            self.writer.event(self.now(), CLOCK_START, datetime.now(timezone.utc).isoformat())
            if self.settings.rehearsal.preheat:
                early_birds(self.scenario, self.contract, self.seed + 104729, self.rehearsal_send, self._record,
                            self.operation, self.writer.event)
            if self.operation("set_clock", t=self.plan.window.start, speed=self.plan.compress) is None and self._target_clock() == "campaign":
                self.writer.event(self.now(), "clock_refused", "the target refused set_clock: it keeps its own clock")
            if self.settings.rehearsal.flagged:
                flagged_numbers(self.scenario, self.contract, self.seed + 7919, self.rehearsal_send, self._record,
                                self.now, self.writer.event)
            self._record_ledger("ledger_start")
            if self.plan.steps:
                self.announce_step()

    def elapsed(self) -> float:
        return 0.0 if self.started is None else self.ticker() - self.started

    def now(self) -> float:
        """Campaign seconds since launch."""
        return self.plan.campaign_t(self.elapsed())

    def completed(self) -> bool:
        return not self.stopped_early and self.elapsed() >= self.plan.duration_s - 1.0

    # --- the harness's own end (never the target's failure) ---------------------------------

    def harness_gone(self) -> bool:
        """Whether the command that started this process has died (this process was handed to
        another parent): whatever fails from then on, an auto-started backend with it, is the
        harness's doing."""
        return os.getppid() != self._parent

    def stopping(self) -> bool:
        """The harness is stopping: requests that do not complete now were cut by it."""
        return self.stop_reason is not None or self.harness_gone()

    def begin_stop(self, reason: str, early: bool = True) -> None:
        """The harness starts to stop (a signal, the run's end, its parent gone, its own fault):
        no request is sent from now on, and one cut on the wire is `unanswered`. A stop before
        the run's end (`early`) is an event with its reason."""
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        if early and self.started is not None and not self.writer.closed:
            self.writer.event(self.now(), HARNESS_STOP, reason)

    def fail(self, reason: str, exit_code: int) -> None:
        """A fault of the harness's own (its rows cannot be written, a request aimed elsewhere):
        the run ends now, marked interrupted with the reason; the load process exits `exit_code`."""
        if self.fatal is None:
            self.fatal, self.fatal_code = reason, exit_code
            logging.getLogger("rehearse.swarm").error("rehearse: error: %s", reason)
        self.stopped_early = True
        self.begin_stop(reason)

    # --- observations ----------------------------------------------------------------------

    def _record(self, values: tuple[Any, ...]) -> None:
        if (values[PAYOUT_COLUMN] or 0) > 0:
            self.paid_fen[values[PRIZE_COLUMN]] += values[PAYOUT_COLUMN]
        try:
            self.writer.request_values(values)
        except ObservationError as exc:  # the disk refused: stop at once, keep what is written
            self.fail(f"could not save the run's rows ({exc}); the rows written before are kept in "
                      f"{self.run_dir}", RunInterrupted.exit_code)

    def _on_ban(self, domain: str, reason: str) -> None:
        self.writer.event(self.now(), "ban", f"{domain}: {reason}")
        self.operation("report_ban", domain=domain)

    def operation(self, name: str, **params: Any) -> dict[str, Any] | None:
        """Call one of the target's operations hooks, if the contract maps it."""
        build = getattr(self.contract, "build_operation", None)
        spec = build(name, {**self.ops_params, **params}) if build else None
        if spec is None:
            return None
        try:
            status, body, _, headers = send(self.ops_http, spec)
        except OffLimits as exc:  # the mapping aims the operation elsewhere: the run ends, bad input
            self.fail(f"target.operations.{name}: {exc}", OffLimits.exit_code)
            return None
        read = getattr(self.contract, "read_operation")  # an operations hook, as build_operation is
        return read(name, status, body, headers)

    # --- the rehearsal's own incidents (a ban with its prober, a budget race) ---------------

    def rehearsal_send(self, spec: RequestSpec) -> Answer:
        assert self.rehearsal_http is not None  # made for each of its senders: prober, race, early birds, flagged
        return send(self.rehearsal_http, spec)

    def due(self, at: float | None) -> bool:
        """Whether a rehearsal incident `at` campaign seconds into the window has come."""
        return at is not None and self.now() >= self.plan.window.start + at

    def probe(self) -> None:
        """One share link from the prober; at the set moment, ban the domain it was issued on."""
        if self.prober is None or self.platform is None:
            return
        self.prober.probe()
        if not self._banned and self.due(self.settings.rehearsal.ban_at):
            self._banned = True
            links = self.scenario.links
            assert links is not None  # a platform to ban on: the campaign issues share links
            domain = self.prober.last_domain or next(
                (d for d in links.primary_domains + links.backup_domains if not self.platform.is_banned(d)), "")
            self.writer.event(self.now(), "incident", f"the platform bans {domain}, a domain the target is issuing")
            self.platform.ban(domain, "banned by the platform (rehearsal)")

    def judges_body(self, action: str) -> bool:
        """Whether the contract reads this action's answers by their body (business codes)."""
        judged = self._body_judged.get(action)
        if judged is None:
            lookup = getattr(self.contract, "judges_body", None)
            judged = self._body_judged[action] = bool(lookup(action)) if lookup else False
        return judged

    def answer_ok(self, action: str, status: int, body: bytes) -> bool:
        """Done or refused by the rules, as the contract judges the answer (not broken)."""
        outcome, _ = self.contract.read(Act(action), status, body, 0.0)
        return outcome.ok or outcome.refused

    def follows_redirects(self, action: str) -> bool:
        """Whether the mapping opts into following this action's redirects (on the target only)."""
        follows = self._follows.get(action)
        if follows is None:
            lookup = getattr(self.contract, "follows_redirects", None)
            follows = self._follows[action] = bool(lookup(action)) if lookup else False
        return follows

    def refusal_statuses(self, action: str) -> frozenset[int]:
        """Statuses that mean 'refused by the rules' for this action."""
        statuses = self._refusals.get(action)
        if statuses is None:
            lookup = getattr(self.contract, "refusal_statuses", None)
            statuses = lookup(action) if lookup else frozenset(self.scenario.target.refused)
            self._refusals[action] = statuses
        return statuses

    def sample(self, active_users: int, rps: float, requests: int, failures: int,
               arrivals: int | None = None, **figures: Any) -> dict[str, Any]:
        """One gauges row (and a check that the target is still alive); `figures` are other
        gauges the load processes measured (slots, waiting, arrival_lag_ms, and the generator's
        own event-loop lag and CPU, swarm/selfmeasure.py), None if unmeasured."""
        row: dict[str, Any] = {"t": self.now(), "active_users": active_users, "rps": rps}
        if arrivals is not None:
            row["arrivals"] = arrivals
        row.update({k: v for k, v in figures.items() if v is not None})
        if self.role == "local":
            row.update(fraud_paid_fen=self.player.paid_by_persona.get("fraud_script", 0))
            if self.platform is not None:
                snapshot = self.platform.snapshot()
                row.update(healthy_domains=len(snapshot.healthy), banned_domains=len(snapshot.banned))
        for name in ("ledger", "link_pool"):
            values = self.operation(name) or {}
            row.update({k: v for k, v in values.items()
                        if k in GAUGES.columns and k not in _OWN_GAUGES and v is not None})
        self.writer.gauge(**row)
        self._failures_in_a_row = self._failures_in_a_row + 1 if (requests and failures >= requests) else 0
        return row

    def _record_ledger(self, kind: str = "ledger") -> None:
        """The target's books (paid in all and per pool, prizes paid twice), as an event: at the
        start ("ledger_start") and the end ("ledger") for the payout gate's cross-check."""
        build = getattr(self.contract, "build_operation", None)
        if build is None or build("ledger", dict(self.ops_params)) is None:
            return  # no ledger operation mapped
        try:
            values = self.operation("ledger")
        except (httpx.HTTPError, OSError):
            values = None
        if values is None:  # mapped, but it failed or was refused: said, never read as "not mapped"
            self.writer.event(self.now(), kind, json.dumps({"gave": [], "unread": True}))
            return
        facts: dict[str, Any] = {k: values[k] for k in ("paid_fen", "pools", "paid_twice")
                                 if values.get(k) is not None}
        # what the ledger gave, so a missing figure is named, never read as 0 or as no ledger at all
        facts["gave"] = sorted(str(k) for k, v in values.items() if v is not None)
        self.writer.event(self.now(), kind, json.dumps(facts, sort_keys=True, default=str))

    def target_down(self) -> bool:
        return self._failures_in_a_row >= TARGET_DOWN_SECONDS

    def progress(self, row: dict[str, Any], requests: int, failures: int) -> None:
        """A small progress file the `rehearse swarm` command reads to draw its progress bar."""
        if self.role not in ("local", "master"):
            return
        SwarmStatus.of(row, self.elapsed(), self.plan.duration_s, requests, failures).write(self.run_dir)

    def close(self, interrupted: bool = False) -> None:
        """Save the run and say how it ended; the folder's claim goes last. A write that fails
        here raises (the caller says so in one line); the run is then marked interrupted."""
        status: Literal["finished", "interrupted"] = (
            "finished" if (self.completed() and not interrupted and self.fatal is None) else "interrupted")
        try:
            if self.role in ("local", "master") and self.fatal is None:
                self._record_ledger()
            if self.role in ("local", "master"):
                self.writer.event(self.now(), "run_end", status)
            if self.role in ("local", "worker") and self.started is not None:
                by_minute = {str(round(m * MINUTE_S)): n for m, n in self.active_by_minute().items()}
                self.writer.event(self.now(), ACTIVE_BY_MINUTE, json.dumps(by_minute))
            played = round(min(self.elapsed(), self.plan.duration_s), 3)
            facts: dict[str, Any] = {"played_s": played}
            if status == "interrupted" and (self.fatal or self.stop_reason):
                facts["stop_reason"] = self.fatal or self.stop_reason
            self.writer.close(status=status, extra=facts)
        finally:
            self.ops_http.close()
            if self.rehearsal_http is not None:
                self.rehearsal_http.close()
            self._claim.close()

