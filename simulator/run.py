"""Running simulations into run folders: one per replica, in parallel processes, summarised.

    summaries = run_replicas(RunRequest(path, overrides, seed=7, replicas=4, jobs=2, out=Path("runs/sim")))
    bands(summaries)   # mean and the 5-95 % band of every figure
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from rehearse.observations import RunInfo, save_run
from rehearse.observations.claim import claimed
from rehearse.scenarios import load_scenario
from rehearse.simulator.campaign import BUCKET_S, simulate

FIGURES = ("participants_24h", "participants_total", "peak_active_users", "peak_active_t", "peak_rps",
           "peak_rps_t", "p95_ms_at_peak", "paid_fen", "fraud_share", "budget_exhausted_t", "alarm_t",
           "pause_t", "bans", "pool_exhausted_t", "users_lost")


@dataclass(frozen=True)
class RunRequest:
    scenario_path: Path | None
    overrides: tuple[str, ...] = ()
    seed: int | None = None
    replicas: int = 1
    jobs: int = 1
    out: Path | None = None
    extra: dict = field(default_factory=dict)
    force: bool = False  # replace a run the folder holds (else such a folder is refused)


def default_out(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"simulate-{stamp}"


def replica_folder(out: Path, replica: int, replicas: int) -> Path:
    return out if replicas == 1 else out / f"replica-{replica:03d}"


def run_one(scenario_path: Path | None, overrides: tuple[str, ...], seed: int, folder: Path) -> dict:
    """Simulate one replica into its run folder; its summary (a process pool's unit of work)."""
    scenario = load_scenario(scenario_path, overrides)
    info = RunInfo.start(scenario, engine="simulator", seed=seed, rolled_up=True,
                         extra={"bucket_s": BUCKET_S, "overrides": list(overrides)})
    result = simulate(scenario, seed)
    save_run(folder, info, result.requests, result.gauges, result.events)
    return {**result.summary, "seed": seed, "folder": str(folder)}


def run_replicas(request: RunRequest, on_done: Callable[[dict], None] = lambda _: None) -> list[dict]:
    """Every replica's summary, replicas spread over `jobs` processes (seeds seed, seed+1, ...)."""
    scenario = load_scenario(request.scenario_path, request.overrides)  # bad input fails here, once
    first_seed = scenario.seed if request.seed is None else request.seed
    out = request.out or default_out()
    with claimed(out, request.force):  # one run, one folder (replicas in its subfolders)
        return _replicas(request, first_seed, out, on_done)


def _replicas(request: RunRequest, first_seed: int, out: Path,
              on_done: Callable[[dict], None]) -> list[dict]:
    jobs = [(request.scenario_path, request.overrides, first_seed + i,
             replica_folder(out, i, request.replicas)) for i in range(request.replicas)]
    summaries: list[dict] = []
    if request.jobs <= 1 or request.replicas == 1:
        for job in jobs:
            summaries.append(run_one(*job))
            on_done(summaries[-1])
    else:
        context = multiprocessing.get_context("spawn")  # no forked numpy/thread state
        with ProcessPoolExecutor(max_workers=request.jobs, mp_context=context) as pool:
            for future in as_completed([pool.submit(run_one, *job) for job in jobs]):
                summaries.append(future.result())
                on_done(summaries[-1])
    return sorted(summaries, key=lambda s: s["seed"])


def bands(summaries: list[dict]) -> dict[str, tuple[float | None, float | None, float | None, int]]:
    """For each figure: (mean, 5th percentile, 95th percentile, replicas where it happened)."""
    out: dict[str, tuple[float | None, float | None, float | None, int]] = {}
    for name in FIGURES:
        values = np.array([s[name] for s in summaries if s.get(name) is not None], dtype=float)
        if len(values) == 0:
            out[name] = (None, None, None, 0)
        else:
            out[name] = (float(values.mean()), float(np.percentile(values, 5)),
                         float(np.percentile(values, 95)), len(values))
    return out


def run_drill(scenario_path: Path | None, overrides: tuple[str, ...], drill: str, seed: int | None,
              folder: Path, force: bool = False) -> Path:
    """Simulate the campaign with one drill's incidents into a run folder; the folder."""
    from rehearse.scenarios.drills import window_of
    from rehearse.simulator.incidents import Disturbances

    scenario = load_scenario(scenario_path, overrides)
    if drill not in scenario.drills:
        from rehearse.scenarios.drills import find_drill
        find_drill(scenario, drill)  # raises, naming the known drills
    seed = scenario.seed if seed is None else seed
    start, duration = window_of(scenario.drills[drill], scenario.traffic.windows)
    info = RunInfo.start(scenario, engine="simulator", seed=seed, rolled_up=True,
                         extra={"bucket_s": BUCKET_S, "overrides": list(overrides), "drill": drill,
                                "window_start": start, "window_duration": duration})
    with claimed(folder, force):
        result = simulate(scenario, seed, disturbances=Disturbances.of(scenario, scenario.drills[drill]))
        save_run(folder, info, result.requests, result.gauges, result.events)
    return folder
