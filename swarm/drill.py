"""A drill played live: the drill's window through the swarm, its incidents played by the harness.

    request = live_request(LiveDrill(None, (), "ban_wave", host=None, faults=(), duration_s=20))
    run_swarm(request)          # then judging.drills.judge_drill on the run folder

The window is compressed into `duration_s` of wall time and the population scaled; one Locust
process plays the users and the incidents, so the platform model that bans a domain is the one
the users' visits go through.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rehearse.scenarios import Scenario, load_scenario
from rehearse.scenarios.drills import window_of
from rehearse.swarm.orchestrate import SwarmRequest
from rehearse.swarm.settings import SwarmSettings, parse_scale

DRILL_WINDOW = "drill-window"  # the name an inline {start, duration} window plays under


@dataclass(frozen=True)
class LiveDrill:
    scenario_path: Path | None
    overrides: tuple[str, ...]
    drill: str
    host: str | None = None
    faults: tuple[str, ...] = ()
    duration_s: float = 20.0
    scale: str = "1:100"
    ops_token: str | None = None
    otp_secret: str | None = None
    allow_remote: bool = False
    seed: int | None = None
    out: Path | None = None
    force: bool = False  # replace a run the folder holds


def live_request(drill: LiveDrill, scenario: Scenario | None = None) -> SwarmRequest:
    """The swarm run that plays the drill's window with its incidents."""
    scenario = scenario or load_scenario(drill.scenario_path, drill.overrides)
    window = scenario.drills[drill.drill].window
    overrides = drill.overrides
    if not isinstance(window, str):
        start, duration = window_of(scenario.drills[drill.drill], scenario.traffic.windows)
        overrides += (f"traffic.windows.{DRILL_WINDOW}={{start: {start!r}, duration: {duration!r}}}",)
        window = DRILL_WINDOW
    settings = SwarmSettings(scenario_path=drill.scenario_path, overrides=overrides, window=window,
                             scale=parse_scale(drill.scale), duration_s=drill.duration_s, run_dir=drill.out,
                             ops_token=drill.ops_token, seed=drill.seed, drill=drill.drill,
                             extra={"faults": list(drill.faults)})
    return SwarmRequest(settings=settings, host=drill.host, faults=drill.faults, workers=0,
                        allow_remote=drill.allow_remote, otp_secret=drill.otp_secret or "", force=drill.force)
