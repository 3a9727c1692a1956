"""A swarm run's settings, from `rehearse swarm` options or plain `locust` arguments.

The command hands them to its load processes as one spec file (`write_spec`, read back by
`read_spec`: the same model, validated), never as flags: a new setting is a field of
`SwarmSettings` and nothing else. Plain `locust -f locustfile.py` still takes flags
(`from_options`). The ops token never goes into the file (it travels in REHEARSE_OPS_TOKEN).
"""

from __future__ import annotations

import json
import math
import os
import re
from argparse import Namespace
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import ConfigDict, with_config

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
MAX_COMPRESS = 1_000_000.0
"""Campaign seconds per wall second at most, given or derived (as --compress allows)."""


def parse_scale(text: str | float | None) -> float:
    """'1:100' (or '100') -> 100.0: the run plays one participant in 100 of the campaign's."""
    if text is None:
        return DEFAULT_SCALE
    match = re.fullmatch(r"\s*(?:1\s*:\s*)?(\d+(?:\.\d+)?)\s*", str(text))
    if not match or not 1 <= float(match.group(1)) <= 1e9:
        raise UsageError(f"--scale {text}: expected 1:K with 1 <= K <= 1000000000 (the run plays one "
                         "participant in K of the simulator's), e.g. 1:100")
    return float(match.group(1))


SPEC_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)  # read_spec: an unknown field is refused


@with_config(SPEC_CONFIG)
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
    # each pool's money (fen) when the run began, by the harness's reckoning of the rehearsal's
    # earlier phases against the same target; () = each pool's budget. Sizes a race nobody can cut.
    money_left: tuple[tuple[str, int], ...] = ()


@with_config(SPEC_CONFIG)
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
    step_flags: tuple[str, str] = ("--steps", "--step-duration")  # what the command calls steps and step_s
    lane: tuple[int, int] = (0, 1)  # (lane, lanes): a phase of a rehearsal plays participants of its own

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
            if self.duration_s is not None and self.duration_s > whole:
                raise UsageError(f"--duration {self.duration_s:g}s: at --compress {compress:g} the {name} window "
                                 f"({window.duration:g} campaign s) is played in {whole:g} s; give --duration up to "
                                 f"{whole:g}s, or leave out --compress to fit the window into --duration")
            duration = self.duration_s or whole
        if duration > MAX_WALL_S:
            raise UsageError(f"--compress {compress:g}: the {name} window ({window.duration:g} campaign s) "
                             f"would take {duration:,.0f} s to play; at most {MAX_WALL_S:g} s: raise --compress "
                             "or give --duration")
        if compress > MAX_COMPRESS:
            raise UsageError(f"--duration {duration:g}s: the {name} window ({window.duration:g} campaign s) in "
                             f"{duration:g} s is x{compress:,.0f}; at most x{MAX_COMPRESS:,.0f}: give a longer "
                             "--duration")
        if self.users is not None and not 1 <= self.users <= MAX_USERS:
            raise UsageError(f"--users {self.users}: expected 1 to {MAX_USERS:,} Locust users")
        plan = Plan(window_name=name, window=window, compress=compress, scale=self.scale,
                    max_slots=self.users or MAX_USERS, duration_s=duration)
        self._check_incidents(plan, scenario)
        return plan

    def _check_incidents(self, plan: Plan, scenario: Scenario) -> None:
        """The ban and the race must come within what the run plays of its window (campaign
        seconds from its start), or they would never happen."""
        played = plan.duration_s * plan.compress
        if self.rehearsal.ban_at is not None and scenario.links is None:
            raise UsageError(f"--ban-at {spoken(self.rehearsal.ban_at)}: the scenario's campaign issues no share "
                             "links (links: is left out), so there is no domain to ban; leave out --ban-at")
        for flag, at in (("--ban-at", self.rehearsal.ban_at), ("--race-at", self.rehearsal.race_at)):
            if at is not None and not 0 <= at < played:
                raise UsageError(f"{flag} {spoken(at)}: the run plays {spoken(played)} of campaign time of the "
                                 f"{plan.window_name} window ({plan.duration_s:g} s of wall time at "
                                 f"x{plan.compress:g}), so it would never come; give a time from 0s to under "
                                 f"{spoken(played)}")

    def _step_plan(self, scenario: Scenario, name: str, window) -> Plan:
        """A step load: real time and 1:1 (concurrency is measured, never multiplied)."""
        steps_flag, step_s_flag = self.step_flags
        if any(not 1 <= n <= MAX_USERS for n in self.steps):
            raise UsageError(f"{steps_flag} {','.join(map(str, self.steps))}: each step is 1 to {MAX_USERS:,} "
                             "participants active at once")
        if not (math.isfinite(self.step_s) and MIN_STEP_S <= self.step_s <= MAX_WALL_S / len(self.steps)):
            raise UsageError(f"{step_s_flag} {self.step_s:g}s: from {MIN_STEP_S:g} s, and all "
                             f"{len(self.steps)} steps at most {MAX_WALL_S:g} s")
        if self.scale != 1.0 or (self.compress not in (None, 1.0)):
            raise UsageError(f"{steps_flag} plays the peak at real concurrency: in real time at 1:1, so leave out "
                             "--scale and --compress")
        if self.duration_s is not None:
            raise UsageError(f"--duration {self.duration_s:g}s: a step load lasts its steps ({steps_flag} times "
                             f"{step_s_flag}); leave --duration out")
        if self.users is not None and self.users < max(self.steps):
            raise UsageError(f"--users {self.users}: fewer Locust users than the largest step keeps playing "
                             f"({max(self.steps):,} participants at once); raise --users or leave it out")
        duration = self.step_s * len(self.steps)
        plan = Plan(window_name=name, window=window, compress=1.0, scale=1.0,
                    max_slots=self.users or MAX_USERS, duration_s=duration, steps=self.steps, step_s=self.step_s)
        self._check_incidents(plan, scenario)
        return plan

    def write_spec(self, path: Path) -> Path:
        """The settings as the load processes read them (`read_spec`), the ops token left out."""
        from pydantic import TypeAdapter

        data = TypeAdapter(SwarmSettings).dump_python(replace(self, ops_token=None), mode="json")
        part = path.with_name(f".{path.name}.part")
        part.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(part, path)
        return path

    @classmethod
    def read_spec(cls, path: Path, ops_token: str | None = None) -> "SwarmSettings":
        """The settings `write_spec` wrote, checked field by field (types, no unknown field)."""
        from pydantic import TypeAdapter, ValidationError

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            settings = TypeAdapter(cls).validate_python(data)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            detail = exc.errors()[0] if isinstance(exc, ValidationError) else None
            said = (f"{'.'.join(map(str, detail['loc'])) or 'the file'}: {detail['msg']}" if detail
                    else getattr(exc, "strerror", None) or str(exc).splitlines()[0])
            raise UsageError(f"--rehearse-spec {path}: {said}; the file is written by `rehearse` for its load "
                             "processes: run the command again rather than editing it") from None
        return replace(settings, ops_token=ops_token or None)

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
            steps=parse_steps(getattr(options, "steps", None) or None),  # Locust's default "": none
            step_s=option_seconds("--step-duration", getattr(options, "step_duration", None) or None)
            or DEFAULT_STEP_S,
            lane=parse_lane(getattr(options, "lane", None) or None),
            rehearsal=RehearsalPlan(ban_at=option_seconds("--ban-at", getattr(options, "ban_at", None) or None),
                                    race_at=option_seconds("--race-at", getattr(options, "race_at", None) or None),
                                    racers=getattr(options, "racers", None) or RehearsalPlan.racers,
                                    preheat=bool(getattr(options, "preheat_probe", False)),
                                    flagged=bool(getattr(options, "flagged_probe", False)),
                                    money_left=parse_money_left(getattr(options, "money_left", None) or None)),
        )


def parse_money_left(text: str | None) -> tuple[tuple[str, int], ...]:
    """`--money-left POOL=FEN,...` (written by the main job, never by hand): each pool's money."""
    if not text:
        return ()
    found = []
    for part in text.split(","):
        pool, _, fen = part.partition("=")
        if not pool or not fen.lstrip("-").isdigit():
            raise UsageError(f"--money-left {text!r}: give POOL=FEN,... (integer fen), e.g. anhe=150000")
        found.append((pool, int(fen)))
    return tuple(found)


def parse_lane(text: str | None) -> tuple[int, int]:
    """--lane L/N: the participants' lane of N (personas/identity.py); none: (0, 1)."""
    if text is None:
        return (0, 1)
    match = re.fullmatch(r"(\d{1,3})/(\d{1,3})", text.strip())
    if not match or not int(match.group(1)) < int(match.group(2)):
        raise UsageError(f"--lane {text}: expected L/N with 0 <= L < N <= 999, e.g. 1/2")
    return int(match.group(1)), int(match.group(2))


def spoken(seconds: float) -> str:
    """Seconds as a duration flag takes them, in the largest whole unit: 7200.0 -> '2h'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def peak_steps(target: int, count: int = 4) -> tuple[int, ...]:
    """The main job's step load up to the peak gate's target: halving down from it, e.g.
    8000 -> (1000, 2000, 4000, 8000)."""
    return tuple(sorted({max(1, round(target / 2 ** k)) for k in range(count)}))


def parse_steps(text: str | None, flag: str = "--steps") -> tuple[int, ...]:
    """'1000,2000,4000' -> (1000, 2000, 4000): participants active in each step of a step load;
    None (the option left out) is no step load, an empty text is an error naming `flag`."""
    if text is None:
        return ()
    if not str(text).strip():
        raise UsageError(f"{flag} {text!r}: empty; give participants per step such as 1000,2000,4000, "
                         f"or leave {flag} out")
    parts = str(text).split(",")
    if len(parts) > MAX_STEPS:
        raise UsageError(f"{flag} {text}: {len(parts)} steps; 1 to {MAX_STEPS} steps")
    try:
        return tuple(int(part) for part in parts)
    except ValueError:
        raise UsageError(f"{flag} {text}: expected whole numbers of participants, e.g. 1000,2000,4000") from None


def option_seconds(flag: str, text: str | None) -> float | None:
    """An optional duration option (e.g. --ban-at 20m) in seconds; None when it was left out,
    an empty text an error naming `flag`."""
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: expected a duration such as 90s or 20m") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise UsageError(f"{flag} {text}: expected a duration from 0 on")
    return seconds
