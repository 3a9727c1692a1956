"""A rehearsal as data: what it plays (`Rehearsal`, its `Phase`s), playing it (`run_rehearsal`)
and what it did (`Journal`), the way Chaos Toolkit keeps an experiment and its journal.

    from rehearse.rehearsal import RehearsalInputs, build_rehearsal, run_rehearsal

    journal = run_rehearsal(build_rehearsal(RehearsalInputs(out=Path("runs/r1"))))
    journal.judgement.tally.ok, journal.answers, journal.record("peak").status

`rehearse run` and `rehearse ci` are views of it; `rehearse.testing` runs one from pytest.
"""

from rehearse.rehearsal.journal import (NOT_PLAYED, PLAYED, SKIPPED, STOPPED, Journal, Judging, PhaseEnded,
                                        PhaseRecord, PhaseStarted, SwarmProgress)
from rehearse.rehearsal.play import run_rehearsal
from rehearse.rehearsal.spec import Phase, Rehearsal, RehearsalInputs, build_rehearsal

__all__ = ["NOT_PLAYED", "PLAYED", "SKIPPED", "STOPPED", "Journal", "Judging", "Phase", "PhaseEnded", "PhaseRecord",
           "PhaseStarted", "Rehearsal", "RehearsalInputs", "SwarmProgress", "build_rehearsal", "run_rehearsal"]
