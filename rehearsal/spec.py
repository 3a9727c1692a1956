"""What a rehearsal plays, as data: the scenario, the target, and its phases in order.

    rehearsal = build_rehearsal(RehearsalInputs(out=Path("runs/r1")))
    [phase.name for phase in rehearsal.phases]   # ["simulated", "peak", "live"]

Every input is checked here, before anything runs (and for a dry run): a bad one is a
`UsageError`. A phase is a simulation (`RunRequest`) or a swarm (`SwarmRequest`); the peak and
the real-time failover may be absent, each with the reason why (`Rehearsal.skipped`).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rehearse.scenarios import Scenario, load_scenario

if TYPE_CHECKING:
    from rehearse.simulator.run import RunRequest
    from rehearse.swarm.orchestrate import SwarmRequest

TARGET_WAIT_S = 60.0  # how long a given target may take to answer again after the peak phase
FAILOVER_LEAD_S = 10.0  # the real-time failover phase bans this long after its start (the prober has links)
FAILOVER_MARGIN_S = 15.0  # and plays this long past the promise: links after the last banned one show it gone
FAILOVER_MAX_S = 900.0  # a promise longer than this (with lead and margin) is not played in real time
LANES = 3  # the phases against one target that play participants: the peak, the window, the failover
PEAK_STEP_S = 15.0
WINDOW_S = 30.0
PHASE_ORDER = ("simulated", "peak", "live", "failover")  # played (or skipped) in this order


@dataclass(frozen=True)
class RehearsalInputs:
    """What the command line (or a QA repository's test) asks of a rehearsal."""

    out: Path
    scenario_path: Path | None = None
    overrides: tuple[str, ...] = ()
    seed: int | None = None
    duration_s: float = WINDOW_S  # wall time of the launch window's swarm
    users: int | None = None
    host: str | None = None  # None: the reference backend, started afresh for each phase
    faults: tuple[str, ...] = ()  # planted in the reference backend
    peak_steps: str | None = None  # "N,N,...", "0" for no peak phase; None: the peak gate's target halved
    peak_step_s: float = PEAK_STEP_S
    peak_workers: int | None = None  # Locust workers for the peak phase (0: one process); None: one per free core
    cores: int | None = None  # the cores the load may use (None: this process's CPU affinity)
    ops_token: str | None = None
    allow_remote: bool = False
    force: bool = False  # replace the runs `out` holds
    target_wait_s: float = TARGET_WAIT_S
    allow_unverified: bool = False
    allow_interrupted: bool = False

    def __post_init__(self) -> None:  # a QA test may pass lists and strings
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "overrides", tuple(self.overrides))
        object.__setattr__(self, "faults", tuple(self.faults))
        if isinstance(self.peak_steps, (int, list, tuple)):  # 0, [500, 1000]: as --peak-steps takes them
            steps = [self.peak_steps] if isinstance(self.peak_steps, int) else self.peak_steps
            object.__setattr__(self, "peak_steps", ",".join(map(str, steps)))


@dataclass(frozen=True)
class Phase:
    """One phase of a rehearsal: its run folder's name, what it plays (a `RunRequest` for the
    simulator, a `SwarmRequest` for a swarm) and the line that announces it."""

    name: str  # "simulated", "peak", "live", "failover": its run's label and folder
    kind: str  # "simulate" or "swarm"
    request: RunRequest | SwarmRequest
    title: str
    after: str | None = None  # a phase played only if this one was (the failover needs the window)

    @property
    def run_dir(self) -> Path:
        from rehearse.simulator.run import RunRequest

        run_dir = self.request.out if isinstance(self.request, RunRequest) else self.request.settings.run_dir
        assert run_dir is not None  # build_rehearsal gives each phase its folder
        return run_dir


@dataclass(frozen=True)
class Rehearsal:
    """The whole rehearsal, every input checked: what `run_rehearsal` plays."""

    inputs: RehearsalInputs
    scenario: Scenario
    job: str  # the phases' runs name their rehearsal: one target, one budget across them
    steps: tuple[int, ...]  # the peak phase's step load (participants playing per step); () for none
    phases: tuple[Phase, ...]
    skipped: dict[str, str] = field(default_factory=dict)  # a phase not played, and why

    @property
    def out(self) -> Path:
        return self.inputs.out

    @property
    def target(self) -> str:
        return self.inputs.host or "the reference backend"

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)


def build_rehearsal(inputs: RehearsalInputs) -> Rehearsal:
    """The rehearsal's phases, refused here when any input is bad: `inputs.out` must hold no run
    (or `force` it to be replaced). A given target that does not answer after the peak phase
    is asked again for `target_wait_s`."""
    from rehearse.observations.claim import check_unused
    from rehearse.reference_backend.faults import check_faults
    from rehearse.simulator.run import RunRequest
    from rehearse.client.contract import follows_our_clock, load_contract
    from rehearse.swarm.orchestrate import SwarmRequest, check_target
    from rehearse.swarm.settings import RehearsalPlan, SwarmSettings, parse_steps, peak_steps

    check_faults(inputs.faults)
    i = replace(inputs, faults=tuple(dict.fromkeys(inputs.faults)))  # each once, in the order given
    check_unused(i.out, i.force)
    scenario = load_scenario(i.scenario_path, i.overrides)
    job = uuid.uuid4().hex[:12]
    facts = {"faults": list(i.faults), "job": job}
    steps = () if i.peak_steps == "0" else (parse_steps(i.peak_steps, "--peak-steps")
                                            or peak_steps(scenario.gates.peak.target_active_users))
    phases = [Phase("simulated", "simulate", RunRequest(i.scenario_path, i.overrides, seed=i.seed, replicas=1,
                                                        jobs=1, out=i.out / "simulated"),
                    f"1/4 simulating the whole campaign ({scenario.name})")]
    skipped = {}
    target = i.host or "the reference backend"
    if steps:
        peak = SwarmSettings(scenario_path=i.scenario_path, overrides=i.overrides, scale=1.0, steps=steps,
                             step_s=i.peak_step_s, run_dir=i.out / "peak", seed=i.seed, ops_token=i.ops_token,
                             extra={**facts, "phase": "peak"}, lane=(0, LANES),
                             step_flags=("--peak-steps", "--peak-step-duration"))
        workers, processes = (i.peak_workers, _processes(i.peak_workers)) if i.peak_workers is not None else \
            load_processes(i.cores or _cores(), target_here=i.host is None or _on_loopback(i.host))
        phases.append(Phase("peak", "swarm", SwarmRequest(settings=peak, host=i.host, faults=i.faults,
                                                          workers=workers, allow_remote=i.allow_remote),
                            f"2/4 the peak at real concurrency against {target}: "
                            f"{', '.join(f'{n:,}' for n in steps)} participants playing, {i.peak_step_s:g} s "
                            f"each, in real time at 1:1, {processes}"))
    else:
        skipped["peak"] = "--peak-steps 0"
    # the launch's incidents, live: early birds in the preheat, a ban a third into the window, a
    # budget race at two thirds
    window = scenario.traffic.windows[scenario.gates.peak.window]
    # a target on its own clock times its failover in real seconds: the compressed window cannot
    # show it, so its ban is played in real time after the window (the failover phase)
    own_clock = i.host is not None and not follows_our_clock(load_contract(scenario.target))
    plan = RehearsalPlan(ban_at=window.duration / 3 if scenario.links is not None and not own_clock else None,
                         race_at=window.duration * 2 / 3,
                         preheat=scenario.campaign.phases.has_preheat,  # early birds need a preheat
                         flagged=True)  # virtual and blacklisted numbers try to log in
    # each phase plays participants of its own (phones, addresses, ids and {step.id}s): a target
    # that keeps idempotency keys or one purchase per participant is judged on new traffic
    live = SwarmSettings(scenario_path=i.scenario_path, overrides=i.overrides, users=i.users,
                         duration_s=i.duration_s, run_dir=i.out / "live", seed=i.seed, rehearsal=plan,
                         lane=(1, LANES), extra={**facts, "phase": "live"}, ops_token=i.ops_token)
    request = SwarmRequest(settings=live, host=i.host, faults=i.faults, allow_remote=i.allow_remote, force=i.force,
                           wait_s=i.target_wait_s if steps else 0.0)
    live.plan(scenario)  # bad input is refused before anything runs
    if steps:
        peak.plan(scenario)
    check_target(request, scenario)
    ban = ("a domain ban a third of the way in" if plan.ban_at is not None
           else "no ban (the campaign issues no share links)" if scenario.links is None
           else "no ban (the target keeps its own clock: its ban is played in real time)")
    phases.append(Phase("live", "swarm", request, f"3/4 the launch window against {target} for {i.duration_s:g} s, "
                                                  f"with {ban} and a budget race at two thirds"))
    if own_clock:
        failover, why = _failover_phase(scenario, i, facts)
        if failover is not None:
            phases.append(failover)
        elif why:
            skipped["failover"] = why
    return Rehearsal(inputs=i, scenario=scenario, job=job, steps=steps, phases=tuple(phases), skipped=skipped)


def _processes(workers: int) -> str:
    """The load processes asked for (--peak-workers), in words."""
    return f"from {workers} Locust workers (--peak-workers)" if workers else "from one load process (--peak-workers 0)"


MAX_PLANNED_WORKERS = 64  # as --peak-workers allows


def load_processes(cores: int, target_here: bool) -> tuple[int, str]:
    """The Locust workers for the peak phase when none were asked for: one per core the target
    leaves free (a target on this machine, the bundled backend or one on loopback, keeps one),
    none (one process does everything) when that is one core or less; and the plan in words."""
    free = cores - 1 if target_here else cores
    where = f"{cores} core{'s' if cores != 1 else ''} here" + (", one left to the target" if target_here else "")
    if free <= 1:
        return 0, f"from one load process ({where}: a bigger peak needs more cores, or --peak-workers)"
    workers = min(free, MAX_PLANNED_WORKERS)
    return workers, f"from {workers} Locust workers ({where})"


def _cores() -> int:
    """The cores this process may use: its CPU affinity, within a container's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    try:  # cgroup v2: "max 100000" (no quota) or "200000 100000" (two cores' worth)
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text(encoding="ascii").split()[:2]
        if quota != "max" and int(period) > 0:
            cores = min(cores, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cores


def _on_loopback(host: str) -> bool:
    from urllib.parse import urlsplit

    from rehearse.client.safety import is_loopback

    try:
        return is_loopback(urlsplit(host).hostname or "")
    except ValueError:  # a URL that does not parse: check_target refuses it, in one line, below
        return False


def _failover_phase(scenario: Scenario, i: RehearsalInputs, facts: dict) -> tuple[Phase | None, str]:
    """The ban again, in real time at the window's scale, for a target that keeps its own clock
    (played only then: the compressed window cannot show a failover timed in real seconds): a
    ban FAILOVER_LEAD_S in, played for the promise plus FAILOVER_MARGIN_S. None, and why, when
    the campaign has no share links or the promise is too long to play."""
    from rehearse.swarm.orchestrate import SwarmRequest
    from rehearse.swarm.settings import RehearsalPlan, SwarmSettings

    if scenario.links is None:
        return None, ""
    assert scenario.gates.failover is not None  # share links come with a failover gate (the scenario's validation)
    window = scenario.traffic.windows[scenario.gates.peak.window]
    promise = scenario.gates.failover.max_seconds
    wanted = FAILOVER_LEAD_S + promise + FAILOVER_MARGIN_S
    if wanted > FAILOVER_MAX_S:
        return None, (f"the failover promise ({promise:g} s) is too long to play in "
                      f"real time here (at most {FAILOVER_MAX_S - FAILOVER_LEAD_S - FAILOVER_MARGIN_S:g} s)")
    if wanted > window.duration:  # never cut short: a phase shorter than the promise proves nothing
        return None, (f"the {scenario.gates.peak.window} window ({window.duration:g} s) is shorter than the failover "
                      f"promise and {FAILOVER_LEAD_S + FAILOVER_MARGIN_S:g} s around it ({wanted:g} s)")
    settings = SwarmSettings(scenario_path=i.scenario_path, overrides=i.overrides, users=i.users, compress=1.0,
                             duration_s=wanted, run_dir=i.out / "failover", seed=i.seed,
                             rehearsal=RehearsalPlan(ban_at=FAILOVER_LEAD_S), lane=(2, LANES),
                             ops_token=i.ops_token, extra={**facts, "phase": "failover"})
    settings.plan(scenario)
    request = SwarmRequest(settings=settings, host=i.host, faults=i.faults, allow_remote=i.allow_remote,
                           force=i.force, wait_s=i.target_wait_s if i.host else 0.0)
    return Phase("failover", "swarm", request,
                 f"3/4 (continued) the target keeps its own clock: its ban in real time, {wanted:g} s (the failover "
                 f"promise, {promise:g} s, and {wanted - promise:g} s around it)", after="live"), ""
