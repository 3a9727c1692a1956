"""A swarm run's settings, from `rehearse swarm` options or plain `locust` arguments."""

from __future__ import annotations

import math
import re
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path

from rehearse.scenarios import Scenario, UsageError, load_scenario
from rehearse.scenarios.units import parse_duration
from rehearse.swarm.shape import Plan

DEFAULT_DURATION_S = 60.0
DEFAULT_SCALE = 100.0
MAX_USERS = 50_000
"""Locust users (slots) at most: more than one machine's load processes and a loopback target take."""
MAX_WALL_S = 86400.0
"""A swarm plays at most a day of wall time."""
DEFAULT_STEP_S = 20.0
MIN_STEP_S = 5.0
MAX_STEPS = 20


def parse_scale(text: str | float | None) -> float:
    """'1:100' (or '100') -> 100.0: the run plays one participant in 100 of the campaign's."""
    if text is None:
        return DEFAULT_SCALE
    match = re.fullmatch(r"\s*(?:1\s*:\s*)?(\d+(?:\.\d+)?)\s*", str(text))
    if not match or not 1 <= float(match.group(1)) <= 1e9:
        raise UsageError(f"--scale {text}: expected 1:K with 1 <= K <= 1000000000 (the run plays one "
                         "participant in K of the simulator's), e.g. 1:100")
    return float(match.group(1))


@dataclass(frozen=True)
class RehearsalPlan:
    """The live incidents of a rehearsal (swarm/rehearsal.py): when the ban and the budget race
    come (campaign seconds into the window) and how big the race is."""

    ban_at: float | None = None
    race_at: float | None = None
    racers: int = 40
    copies: int = 3  # requests per racer's tap, sent at once
    preheat: bool = False  # before the window: a few participants try to take part in the preheat
    flagged: bool = False  # at the window's start: a few virtual and blacklisted numbers try to log in


@dataclass(frozen=True)
class SwarmSettings:
    scenario_path: Path | None = None
    overrides: tuple[str, ...] = ()
    window: str | None = None
    users: int | None = None
    scale: float = DEFAULT_SCALE
    compress: float | None = None
    duration_s: float | None = None
    run_dir: Path | None = None
    ops_token: str | None = None
    seed: int | None = None
    extra: dict = field(default_factory=dict)
    drill: str | None = None  # a drill of the scenario whose incidents the run plays
    rehearsal: RehearsalPlan = RehearsalPlan()  # a live ban (with the prober) and a budget race
    steps: tuple[int, ...] = ()  # a step load: participants active in each step (real time, 1:1)
    step_s: float = DEFAULT_STEP_S

    def load(self) -> Scenario:
        return load_scenario(self.scenario_path, self.overrides)

    def plan(self, scenario: Scenario) -> Plan:
        """Window, compression, scale and users, filling what was left out from the scenario."""
        if self.window is not None and not self.window.strip():
            raise UsageError(f"--window {self.window!r}: empty; name a traffic window "
                             f"({', '.join(sorted(scenario.traffic.windows)) or 'none'}) or leave it out")
        name = self.window or scenario.gates.peak.window
        window = scenario.traffic.windows.get(name)
        if window is None:
            known = ", ".join(sorted(scenario.traffic.windows)) or "none"
            raise UsageError(f"--window {name}: the scenario has no such window (known: {known})")
        if self.rehearsal.preheat and not scenario.campaign.phases.has_preheat:
            raise UsageError("--preheat-probe: the campaign has no preheat (campaign.phases.preheat_start "
                             "is left out); leave the flag out")
        if self.steps:
            return self._step_plan(scenario, name, window)
        if self.compress is not None and self.compress <= 0:
            raise UsageError(f"--compress {self.compress}: must be above 0")
        if self.compress is None:
            duration = self.duration_s or DEFAULT_DURATION_S
            compress = window.duration / duration
        else:
            compress = self.compress
            whole = window.duration / compress
            duration = min(self.duration_s, whole) if self.duration_s else whole
        if duration > MAX_WALL_S:
            raise UsageError(f"--compress {compress:g}: the {name} window ({window.duration:g} campaign s) "
                             f"would take {duration:,.0f} s to play; at most {MAX_WALL_S:g} s: raise --compress "
                             "or give --duration")
        if self.users is not None and not 1 <= self.users <= MAX_USERS:
            raise UsageError(f"--users {self.users}: expected 1 to {MAX_USERS:,} Locust users")
        return Plan(window_name=name, window=window, compress=compress, scale=self.scale,
                    max_slots=self.users or MAX_USERS, duration_s=duration)

    def _step_plan(self, scenario: Scenario, name: str, window) -> Plan:
        """A step load: real time and 1:1 (concurrency is measured, never multiplied)."""
        if any(not 1 <= n <= MAX_USERS for n in self.steps):
            raise UsageError(f"--steps {','.join(map(str, self.steps))}: each step is 1 to {MAX_USERS:,} "
                             "participants active at once")
        if not (math.isfinite(self.step_s) and MIN_STEP_S <= self.step_s <= MAX_WALL_S / len(self.steps)):
            raise UsageError(f"--step-duration {self.step_s:g}s: from {MIN_STEP_S:g} s, and all steps at most "
                             f"{MAX_WALL_S:g} s")
        if self.scale != 1.0 or (self.compress not in (None, 1.0)):
            raise UsageError("--steps plays the peak at real concurrency: in real time at 1:1, so leave out "
                             "--scale and --compress")
        duration = self.step_s * len(self.steps)
        return Plan(window_name=name, window=window, compress=1.0, scale=1.0,
                    max_slots=self.users or MAX_USERS, duration_s=duration, steps=self.steps, step_s=self.step_s)

    @classmethod
    def from_options(cls, options: Namespace) -> "SwarmSettings":
        """From the arguments the locustfile adds to Locust's command line."""
        duration = getattr(options, "rehearse_duration", None)
        return cls(
            scenario_path=Path(options.scenario) if getattr(options, "scenario", None) else None,
            overrides=tuple(getattr(options, "set", None) or ()),
            window=getattr(options, "window", None) or None,
            users=getattr(options, "max_slots", None) or None,
            scale=parse_scale(getattr(options, "scale", None)) if getattr(options, "scale", None)
            else (1.0 if getattr(options, "steps", None) else DEFAULT_SCALE),
            compress=getattr(options, "compress", None) or None,
            duration_s=parse_duration(duration) if duration else None,
            run_dir=Path(options.run_dir) if getattr(options, "run_dir", None) else None,
            ops_token=getattr(options, "ops_token", None) or None,
            seed=getattr(options, "rehearse_seed", None),
            drill=getattr(options, "drill", None) or None,
            steps=parse_steps(getattr(options, "steps", None)),
            step_s=option_seconds("--step-duration", getattr(options, "step_duration", None)) or DEFAULT_STEP_S,
            rehearsal=RehearsalPlan(ban_at=option_seconds("--ban-at", getattr(options, "ban_at", None)),
                                    race_at=option_seconds("--race-at", getattr(options, "race_at", None)),
                                    racers=getattr(options, "racers", None) or RehearsalPlan.racers,
                                    preheat=bool(getattr(options, "preheat_probe", False)),
                                    flagged=bool(getattr(options, "flagged_probe", False))),
        )


def peak_steps(target: int, count: int = 4) -> tuple[int, ...]:
    """The main job's step load up to the peak gate's target: halving down from it, e.g.
    8000 -> (1000, 2000, 4000, 8000)."""
    return tuple(sorted({max(1, round(target / 2 ** k)) for k in range(count)}))


def parse_steps(text: str | None) -> tuple[int, ...]:
    """'1000,2000,4000' -> (1000, 2000, 4000): participants active in each step of a step load."""
    if not text:
        return ()
    try:
        steps = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        raise UsageError(f"--steps {text}: expected whole numbers of participants, e.g. 1000,2000,4000") from None
    if not 1 <= len(steps) <= MAX_STEPS:
        raise UsageError(f"--steps {text}: 1 to {MAX_STEPS} steps")
    return steps


def option_seconds(flag: str, text: str | None) -> float | None:
    """An optional duration option (e.g. --ban-at 20m) in seconds."""
    if not text:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise UsageError(f"{flag} {text}: expected a duration such as 90s or 20m") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise UsageError(f"{flag} {text}: expected a duration from 0 on")
    return seconds
