"""One walkthrough from start to end: the target (the reference backend started on loopback
unless a host is given), the cast, the journeys, the observations and the Markdown.

    result = run_walkthrough(WalkthroughRequest(scenario, personas=["normal"], at=0.0, ...),
                             on_group=..., on_step=...)
    result.mismatches, result.markdown
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rehearse.observations import RunInfo, RunWriter, consolidate
from rehearse.observations.claim import claimed
from rehearse.reference_backend.app import Backend
from rehearse.reference_backend.clock import ManualClock
from rehearse.reference_backend.server import running_backend
from rehearse.reference_backend.service import Settings
from rehearse.scenarios import Scenario
from rehearse.client.contract import load_contract
from rehearse.scenarios import UsageError
from rehearse.client.safety import check_host, check_reachable
from rehearse.walkthrough.cast import Group, cast, complete_funnel
from rehearse.walkthrough.engine import Participant, StepReport, Walkthrough
from rehearse.walkthrough.markdown import Played, write
from rehearse.walkthrough.narrate import clock
from rehearse.walkthrough.targets import LiveTarget

MARKDOWN = "walkthrough.md"


@dataclass
class WalkthroughRequest:
    scenario: Scenario
    personas: list[str]
    at: float
    run_dir: Path
    seed: int
    host: str | None = None
    ops_token: str | None = None
    allow_remote: bool = False
    faults: frozenset[str] = frozenset()
    command: str = ""
    backend_settings: Settings | None = None  # the auto-started backend's (tests widen its races)
    trace: Callable[[Any], None] | None = None
    """Given every request and its judged answer (`rehearse target check`)."""
    force: bool = False  # replace a run the folder holds (else such a folder is refused)
    skip: frozenset[str] = frozenset()  # actions never sent to the target (`target check --no-payouts`)
    at_end: Callable[[Any], None] | None = None
    """Called with the live target once every participant has played, before it stops (`target check`)."""


@dataclass
class WalkthroughResult:
    played: list[Played] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    markdown: Path | None = None

    @property
    def mismatches(self) -> int:
        return sum(len(p.mismatches) for p in self.played)


def _needs_token(scenario: Scenario) -> bool:
    """Whether the contract's set_clock operation sends {params.ops_token}."""
    from rehearse.scenarios.target import fields_used

    request = scenario.target.operations.get("set_clock")
    return request is not None and "ops_token" in fields_used(request, "params")


def run_walkthrough(request: WalkthroughRequest,
                    on_group: Callable[[Group], None] = lambda _: None,
                    on_step: Callable[[StepReport], None] = lambda _: None,
                    on_wait: Callable[[Participant, float, float], None] = lambda *_: None,
                    on_start: Callable[[list[str]], None] = lambda _: None) -> WalkthroughResult:
    """Play the walkthrough; whatever happens (Ctrl-C too), the run folder keeps what was seen."""
    scenario = request.scenario
    walk_scenario = complete_funnel(scenario)
    result = WalkthroughResult()
    contract = load_contract(scenario.target)
    if request.trace is not None:
        from rehearse.walkthrough.target_check import TracingContract

        contract = TracingContract(contract, request.trace)
    info = RunInfo.start(scenario, engine="walkthrough", seed=request.seed, extra={
        "personas": list(request.personas), "at_s": request.at, "faults": [*sorted(request.faults)],
        "host": "reference backend (auto-started)" if request.host is None else "given"})
    if request.host is not None:  # refused before anything is made
        check_host(request.host, request.allow_remote, scenario.target.allow_remote_hosts)
        check_reachable(request.host)
        if not request.ops_token and _needs_token(scenario):
            raise UsageError(f"--host {request.host}: pass the backend's --ops-token (or "
                             "REHEARSE_OPS_TOKEN): the contract moves the backend's clock through an "
                             "operation that sends it (target.operations.set_clock)")
    with ExitStack() as stack:
        stack.enter_context(claimed(request.run_dir, request.force))  # one run, one folder
        token: str | None  # the ops token: the bundled backend's, or the one given (if any)
        if request.host is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rehearse-walk-")))
            backend = Backend(scenario, folder / "backend.sqlite3", faults=request.faults,
                              clock=ManualClock(request.at), seed=request.seed,
                              settings=request.backend_settings)
            host, token = stack.enter_context(running_backend(backend)).url, backend.ops_token
            where = "the reference backend" + (f" with the fault(s) {', '.join(sorted(request.faults))}"
                                               if request.faults else " (healthy)")
        else:
            host, token, where = request.host.rstrip("/"), request.ops_token, f"the backend at {request.host}"
        writer = stack.enter_context(RunWriter(request.run_dir, info, writer_id="walkthrough"))
        target = LiveTarget(scenario, contract, host, token, writer.request_values, request.seed, request.skip)
        stack.callback(target.close)
        phase = scenario.campaign.phases.phase_at(request.at)
        result.header = [
            f"Rehearsed against {where}, as of {clock(scenario, request.at)} (campaign {phase}).",
            "The backend's clock follows the walkthrough (target.operations.set_clock)." if target.moves_clock
            else "The backend keeps its own clock (the contract maps no set_clock): times are the walkthrough's.",
        ] + ([f"Command: `{request.command}`"] if request.command else [])
        on_start(result.header)
        try:
            for group in cast(walk_scenario, request.personas, request.at, request.seed):
                played = Played(group.title)
                result.played.append(played)
                on_group(group)

                def step(report: StepReport, played: Played = played) -> None:
                    played.reports.append(report)
                    on_step(report)

                walk = Walkthrough(walk_scenario, target, group.identities, on_step=step, on_wait=on_wait)
                walk.play(group.participants)
            if request.at_end is not None:
                request.at_end(target)
        except KeyboardInterrupt:
            result.header.append("Interrupted: the walkthrough stopped before its end.")
            raise
        finally:
            result.markdown = write(request.run_dir / MARKDOWN, scenario, result.played, result.header)
            for p in result.played:
                for report in p.mismatches:
                    writer.event(report.t, "mismatch", f"{report.who.label}: {report.act.action}: "
                                 f"{report.mismatch.rule.id}")  # type: ignore[union-attr]
    consolidate(request.run_dir)
    return result
