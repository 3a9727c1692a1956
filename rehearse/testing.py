"""Run a rehearsal from a QA repository's own pytest suite and assert on its journal.

    # conftest.py at the repository's root
    pytest_plugins = ["rehearse.testing"]

    # test_launch.py
    def test_the_backend_holds_the_launch(rehearse):
        journal = rehearse(peak_steps="500,1000", duration_s=60)
        assert journal.judgement.tally.ok, journal.answers

`rehearse(**inputs)` takes the fields of `rehearse.rehearsal.RehearsalInputs` (the flags of
`rehearse run`); the rehearsal's folder defaults to one under pytest's `tmp_path`, the target to
`--rehearse-host` (none: the bundled reference backend) and the scenario to
`--rehearse-scenario` (none: the bundled one). It returns the `Journal`: each phase's status,
run folder and reason, the judgement, the answers and the report's folder. Bad input is a
`rehearse.scenarios.UsageError`; a rehearsal a stop signal ended raises as `rehearse run` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rehearse", "rehearse: rehearsals from the suite")
    group.addoption("--rehearse-host", default=None, metavar="URL",
                    help="The campaign backend the `rehearse` fixture plays against. [default: the bundled "
                         "reference backend, started afresh for each phase]")
    group.addoption("--rehearse-scenario", default=None, metavar="FILE",
                    help="The scenario the `rehearse` fixture plays. [default: the bundled one]")


@pytest.fixture
def rehearse(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., object]:
    """A function that plays one rehearsal and returns its journal (see the module's doc)."""
    from rehearse.rehearsal import RehearsalInputs, build_rehearsal, run_rehearsal

    config = request.config
    played = 0

    def play(on_event: Callable[[object], None] = lambda _: None, **inputs):
        nonlocal played
        played += 1
        scenario = config.getoption("--rehearse-scenario")
        defaults = {"out": tmp_path / f"rehearsal-{played}", "host": config.getoption("--rehearse-host"),
                    "scenario_path": Path(scenario) if scenario else None}
        return run_rehearsal(build_rehearsal(RehearsalInputs(**{**defaults, **inputs})), on_event)

    return play
