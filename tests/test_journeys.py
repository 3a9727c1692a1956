"""Journey libraries: the persona generators played against the rules, expanded with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from rehearse.scenarios import load_scenario
from rehearse.scenarios.target import ACTIONS
from rehearse.simulator.journeys import OK, REFUSED, build_library, expand

OPEN_ENVELOPE, COMPLETE_TASK, OPEN_PAGE = (ACTIONS.index(a) for a in ("open_envelope", "complete_task", "open_page"))
NO_ANTIFRAUD = ("antifraud.effectiveness={virtual_segments: 0, blacklist: 0, rate_limits: 0, signed_payouts: 0}",)


def journeys(library):
    for start, end in zip(library.starts[:-1], library.starts[1:]):
        yield slice(start, end)


def test_a_normal_user_never_opens_an_envelope_before_its_tasks(scenario):
    library = build_library(scenario, "normal", 500, seed=1)
    tasks_per_institution = [len(i.tasks) for i in scenario.campaign.institutions]
    opened = 0
    for rows in journeys(library):
        done = np.zeros(len(tasks_per_institution), dtype=int)
        for action, place, outcome in zip(library.action[rows], library.institution[rows], library.outcome[rows]):
            if action == COMPLETE_TASK and outcome == OK:
                done[place] += 1
            if action == OPEN_ENVELOPE:
                assert done[place] >= tasks_per_institution[place]
                opened += outcome == OK
    assert opened > 500  # and they do open envelopes


def test_offsets_only_grow_within_a_journey(scenario):
    library = build_library(scenario, "sharer", 200, seed=2)
    for rows in journeys(library):
        assert (np.diff(library.offset_s[rows]) >= 0).all()


def test_scripts_skip_the_page_and_the_signature_stops_their_payouts(scenario):
    guarded = build_library(scenario, "fraud_script", 400, seed=3)
    assert not (guarded.action == OPEN_PAGE).any()
    paid = lambda lib: ((lib.action == OPEN_ENVELOPE) & (lib.outcome == OK)).sum() / lib.journeys  # noqa: E731
    unguarded = build_library(load_scenario(overrides=NO_ANTIFRAUD), "fraud_script", 400, seed=3)
    assert paid(guarded) < 0.5
    assert paid(unguarded) > 5 * max(paid(guarded), 0.1)
    assert (guarded.outcome == REFUSED).sum() > (unguarded.outcome == REFUSED).sum()


def test_the_same_seed_gives_the_same_library(scenario):
    a, b = build_library(scenario, "normal", 100, seed=9), build_library(scenario, "normal", 100, seed=9)
    assert np.array_equal(a.offset_s, b.offset_s) and np.array_equal(a.action, b.action)


def test_expand_gives_each_participant_a_whole_journey_at_its_arrival(scenario):
    library = build_library(scenario, "normal", 50, seed=4)
    arrivals = np.array([0.0, 100.0, 5000.0])
    actions = expand(library, arrivals, np.array([7, 8, 9]), np.random.default_rng(1))
    for who, arrival in zip((7, 8, 9), arrivals):
        mine = actions.who == who
        assert mine.any()
        offsets = actions.t[mine] - arrival
        # the participant's rows are one library journey, in order
        match = [rows for rows in journeys(library)
                 if len(library.offset_s[rows]) == mine.sum() and np.allclose(library.offset_s[rows], offsets)]
        assert match
        assert np.array_equal(library.action[match[0]], actions.action[mine])


def test_expand_gives_as_many_actions_as_the_journeys_hold(scenario):
    """Sizes only; benchmarks/simulate_speed.py times the whole campaign."""
    library = build_library(scenario, "normal", 200, seed=5)
    n = 100_000
    actions = expand(library, np.sort(np.random.default_rng(0).random(n)) * 86400, np.arange(n),
                     np.random.default_rng(1))
    assert len(actions) == pytest.approx(n * library.lengths().mean(), rel=0.05)
