"""Play a rehearsal's phases in order, judge what they saw, write the report: `run_rehearsal`.

    journal = run_rehearsal(build_rehearsal(RehearsalInputs(out=Path("runs/r1"))))
    journal.judgement.tally.headline   # "PASS: 43 passed; 0 failed; ..."

A given target that stops answering after a phase is a finding (the phases after it are not
played; those played are judged), never bad input. A stop signal, or a swarm the harness's own
fault ended, stops the rehearsal: the journal says so and the error goes to the caller, with
what was measured kept in the run folders.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from rehearse.observations.schema import utc_now
from rehearse.rehearsal.journal import (NOT_PLAYED, PLAYED, SKIPPED, STOPPED, Journal, Judging, PhaseEnded,
                                        PhaseRecord, PhaseStarted, SwarmProgress)
from rehearse.rehearsal.spec import PHASE_ORDER, Phase, Rehearsal
from rehearse.scenarios import Scenario, UsageError
from rehearse.scenarios.errors import RunInterrupted

if TYPE_CHECKING:
    from rehearse.observations import Run

Event = PhaseStarted | SwarmProgress | PhaseEnded | Judging


def run_rehearsal(rehearsal: Rehearsal, on_event: Callable[[Event], None] = lambda _: None) -> Journal:
    """Every phase of `rehearsal`, then the gates and the report; the journal of what happened
    (also in `journal.json` in the rehearsal's folder)."""
    from rehearse.observations.claim import claimed
    from rehearse.client.safety import check_reachable

    if rehearsal.inputs.host:
        check_reachable(rehearsal.inputs.host)  # a target that does not answer is refused before the simulation
    journal = Journal(rehearsal)
    with claimed(rehearsal.out, rehearsal.inputs.force):  # one rehearsal, one folder: its phases in subfolders
        try:
            _play(journal, on_event)
        except BaseException as exc:
            journal.status, journal.reason, journal.ended_at = "stopped", _said(exc), utc_now().isoformat()
            try:
                journal.write()
            except OSError:  # a disk full: the error that stopped the rehearsal is the one to tell
                pass
            raise
    return journal


def _play(journal: Journal, on_event: Callable[[Event], None]) -> None:
    from rehearse.observations import load_run
    from rehearse.reports.bundle import write_report
    from rehearse.judging.gates import silent_after
    from rehearse.calibration.peak import with_peak_predictions
    from rehearse.judging.judge import judge
    from rehearse.swarm.orchestrate import stop_if_harness_failed, stop_if_signalled

    rehearsal = journal.rehearsal
    runs: list[tuple[str, Run]] = []  # (label, Run) of each phase played, in order
    findings = []
    for name in PHASE_ORDER:
        phase = rehearsal.phase(name)
        if name in rehearsal.skipped:
            journal.phases.append(PhaseRecord(name, SKIPPED, reason=rehearsal.skipped[name]))
            continue
        if phase is None:
            continue
        if phase.after is not None and phase.after not in dict(runs):
            _ended(journal, on_event, phase, PhaseRecord(phase.name, NOT_PLAYED,
                                                         reason=f"the {phase.after} phase was not played"))
            continue
        on_event(PhaseStarted(phase))
        began = utc_now().isoformat()
        try:
            result = _phase(phase, runs, rehearsal.scenario, on_event)
        except _Silent as silent:  # still down after the phase before: a finding, and that phase is judged
            before = runs[-1][0]
            findings.append(silent_after(before, silent.error.waited_s, silent.error.said))
            record = PhaseRecord(phase.name, NOT_PLAYED, reason=f"{silent.error} after {_spoken(before)}",
                                 started_at=began, ended_at=utc_now().isoformat())
        except BaseException as exc:  # bad input found late, a stop signal in the simulation, ...
            _stopped(journal, on_event, phase, PhaseRecord(phase.name, STOPPED, phase.run_dir, reason=_said(exc),
                                                           started_at=began, ended_at=utc_now().isoformat()))
            raise
        else:
            status, reason = (result.status, result.reason) if result is not None else ("finished", "")
            record = PhaseRecord(phase.name, PLAYED, phase.run_dir, run_status=status, reason=reason,
                                 started_at=began, ended_at=utc_now().isoformat())
            if result is not None and (result.signal or result.exit_code in (UsageError.exit_code,
                                                                             RunInterrupted.exit_code)):
                # a stop signal, or a fault of the harness's own: the rehearsal goes no further
                _stopped(journal, on_event, phase, replace(record, status=STOPPED))
                stop_if_signalled(result)
                stop_if_harness_failed(result)
            runs.append((phase.name, load_run(phase.run_dir)))
        _ended(journal, on_event, phase, record)
    on_event(Judging())
    i = rehearsal.inputs
    judgement = judge(runs, rehearsal.scenario, allow_unverified=i.allow_unverified,
                      allow_interrupted=i.allow_interrupted, findings=findings)
    journal.judgement = with_peak_predictions(judgement, runs, rehearsal.scenario)
    journal.report_dir = rehearsal.out / "report"
    write_report(journal.report_dir, runs, journal.judgement)
    journal.status, journal.ended_at = "completed", utc_now().isoformat()
    journal.write()


def _spoken(phase: str) -> str:
    return "the launch window" if phase == "live" else f"the {phase} phase"


def _stopped(journal: Journal, on_event: Callable[[Event], None], phase: Phase, record: PhaseRecord) -> None:
    """The phase the rehearsal stopped in: recorded, and its view closed (the error follows)."""
    journal.phases.append(record)
    on_event(PhaseEnded(phase, record))


def _ended(journal: Journal, on_event: Callable[[Event], None], phase: Phase, record: PhaseRecord) -> None:
    journal.phases.append(record)
    journal.write()
    on_event(PhaseEnded(phase, record))


class _Silent(Exception):
    def __init__(self, error) -> None:
        self.error = error


def _phase(phase: Phase, runs: list, scenario: Scenario, on_event: Callable[[Event], None]):
    """Play one phase into its run folder: the swarm's result (None for the simulation)."""
    from rehearse.simulator.run import RunRequest, run_replicas
    from rehearse.swarm.orchestrate import run_swarm
    from rehearse.client.safety import TargetSilent

    if isinstance(phase.request, RunRequest):  # phase.kind "simulate"
        run_replicas(phase.request)
        return None
    request = _with_money_left(phase.request, runs, scenario)
    try:
        return run_swarm(request, lambda figures: on_event(SwarmProgress(phase, figures)), scenario)
    except TargetSilent as silent:
        raise _Silent(silent) from None


def _with_money_left(request, runs: list, scenario: Scenario):
    """A swarm with a budget race told what the given target's pools hold after the live phases
    before it, by the harness's reckoning (a race the target cannot cut is sized to meet their end)."""
    from rehearse.judging.carried import money_after

    if request.settings.rehearsal.race_at is None:
        return request
    live = [(label, run) for label, run in runs if run.info.live]
    left = money_after(live, scenario) if live else None
    if left is None:
        return request
    plan = replace(request.settings.rehearsal, money_left=tuple(sorted(left.pools_left.items())))
    return replace(request, settings=replace(request.settings, rehearsal=plan))


def _said(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
