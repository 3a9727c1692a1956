"""What a rehearsal did, as data: each phase's status, run folder and reason, and the judgement.

`run_rehearsal` keeps the journal as it goes and writes it to `journal.json` in the rehearsal's
folder after every phase, so a rehearsal stopped half-way says how far it got. It tells its
caller what happens through events (`PhaseStarted`, `SwarmProgress`, `PhaseEnded`, `Judging`):
the CLI draws them, a test may collect them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rehearse.observations.layout import JOURNAL
from rehearse.observations.schema import utc_now
from rehearse.rehearsal.spec import Phase, Rehearsal

if TYPE_CHECKING:
    from rehearse.judging.judge import Judgement
    from rehearse.swarm.status import SwarmStatus

PLAYED = "played"  # the phase ran to its end (its run folder says how: finished or interrupted)
NOT_PLAYED = "not played"  # planned, but what it needed was not there (the target stopped answering)
SKIPPED = "skipped"  # not planned for this rehearsal (--peak-steps 0, a promise too long to play)
STOPPED = "stopped"  # a stop signal or a fault of the harness's own ended the rehearsal in it


@dataclass(frozen=True)
class PhaseRecord:
    name: str
    status: str  # PLAYED, NOT_PLAYED, SKIPPED or STOPPED
    run_dir: Path | None = None
    run_status: str = ""  # the run folder's own status ("finished", "interrupted") when played
    reason: str = ""  # why it was not played, or why its run ended early
    started_at: str = ""
    ended_at: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "run_dir": str(self.run_dir) if self.run_dir else None,
                "run_status": self.run_status, "reason": self.reason, "started_at": self.started_at,
                "ended_at": self.ended_at}


@dataclass(frozen=True)
class PhaseStarted:
    phase: Phase


@dataclass(frozen=True)
class SwarmProgress:
    """A swarm phase's figures, about five times a second (swarm/status.py `SwarmStatus`)."""

    phase: Phase
    figures: SwarmStatus


@dataclass(frozen=True)
class PhaseEnded:
    phase: Phase
    record: PhaseRecord


@dataclass(frozen=True)
class Judging:
    """The phases are over; the gates are being checked and the report written."""


@dataclass
class Journal:
    """The record of one rehearsal: its phases as they went, then the judgement and the report."""

    rehearsal: Rehearsal
    started_at: str = field(default_factory=lambda: utc_now().isoformat())
    phases: list[PhaseRecord] = field(default_factory=list)
    status: str = "running"  # "running", "completed" (judged) or "stopped" (see `reason`)
    reason: str = ""
    judgement: Judgement | None = None  # once judged
    report_dir: Path | None = None
    ended_at: str = ""

    def record(self, name: str) -> PhaseRecord | None:
        return next((r for r in self.phases if r.name == name), None)

    @property
    def runs(self) -> dict[str, Path]:
        """The folder of each phase that was played."""
        return {r.name: r.run_dir for r in self.phases if r.status == PLAYED and r.run_dir is not None}

    @property
    def answers(self) -> list[str]:
        """The launch answers (peak, failover, budget, fraud), once judged."""
        from rehearse.judging.answers import launch_answers

        return [] if self.judgement is None else [a.line for a in launch_answers(self.judgement.verdicts)]

    def as_dict(self) -> dict:
        r = self.rehearsal
        judgement = self.judgement
        return {
            "status": self.status, "reason": self.reason, "started_at": self.started_at, "ended_at": self.ended_at,
            "rehearsal": {"scenario": r.scenario.name, "scenario_digest": r.scenario.digest(), "job": r.job,
                          "target": r.target if r.inputs.host else "reference backend",
                          "faults": list(r.inputs.faults), "seed": r.inputs.seed,
                          "phases": [p.name for p in r.phases], "skipped": r.skipped},
            "phases": [p.as_dict() for p in self.phases],
            "verdict": None if judgement is None else {"outcome": judgement.tally.outcome, "ok": judgement.tally.ok,
                                                       "headline": judgement.tally.headline,
                                                       "to_conclude": list(judgement.tally.to_conclude),
                                                       "predictions": list(judgement.tally.predictions),
                                                       "exit_code": judgement.exit_code, "answers": self.answers},
            "report_dir": str(self.report_dir) if self.report_dir else None,
        }

    def write(self) -> Path:
        """journal.json in the rehearsal's folder, replaced whole (never half-written)."""
        path = self.rehearsal.out / JOURNAL
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{JOURNAL}.part")
        part.write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(part, path)
        return path
