"""Who arrives when in a live run: the simulator's arrival process, thinned to the run's scale
and played in wall time (an open model).

A live run plays the same participants the simulator does for the same scenario and seed
(`simulator.arrivals.generate`), those of its window, each kept with probability 1/K at a
scale of 1:K. Each arrival is due at its own campaign time, plays its persona's journey once
and leaves, so the number of participants active at once emerges from arrival rate x journey
length, as in the campaign. Invitees are not scheduled here: the live sharers' own share links
bring them (the player's Spawn queue), as they do in the campaign.

Locust users are slots: each takes the next due arrival and plays it. `expected_active` sizes
the slots from the journeys the personas play (the simulator's journey libraries), and
`slots_wanted` adds a margin; an arrival that finds no free slot waits, and that wait is
measured (the generator's lag), never hidden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rehearse.scenarios import Scenario
from rehearse.simulator.arrivals import INVITEE, PERSONAS, Participants, generate
from rehearse.client.player import Arrival
from rehearse.swarm.shape import Plan

SLOT_MARGIN = 1.3  # slots per expected active participant
SLOT_HEADROOM = 10  # and a few more, for the noise of small runs
LOOKAHEAD_S = 10.0  # slots are ready this many wall seconds before the participants come
LIBRARY_JOURNEYS = 300  # journeys per persona to learn how long each persona stays


@dataclass
class Schedule:
    """The arrivals one load process plays, sorted by campaign time; `take_due` hands them out."""

    t: np.ndarray  # campaign seconds
    persona: np.ndarray  # index into PERSONAS
    channel: np.ndarray  # index into the scenario's channels
    channels: tuple[str, ...]
    _next: int = 0

    def __len__(self) -> int:
        return len(self.t)

    def take_due(self, now: float) -> list[Arrival]:
        """Every arrival due by campaign time `now` not handed out yet, in time order."""
        end = int(np.searchsorted(self.t, now, side="right"))
        due = [Arrival(float(self.t[i]), PERSONAS[self.persona[i]], self.channels[self.channel[i]])
               for i in range(self._next, end)]
        self._next = max(self._next, end)
        return due

    def take_next(self, count: int) -> list[Arrival]:
        """The next `count` arrivals, whenever they are due (a step load paces them by
        concurrency instead); once all were handed out, the window's arrivals come round again
        (as fresh participants: the identities are new)."""
        taken: list[Arrival] = []
        while len(self.t) and len(taken) < count:
            if self._next >= len(self.t):
                self._next = 0
            end = min(len(self.t), self._next + count - len(taken))
            taken += [Arrival(float(self.t[i]), PERSONAS[self.persona[i]], self.channels[self.channel[i]])
                      for i in range(self._next, end)]
            self._next = end
        return taken

    def next_t(self) -> float | None:
        """When the next arrival is due (campaign seconds), None when every one was handed out."""
        return float(self.t[self._next]) if self._next < len(self.t) else None

    def counts(self) -> dict[str, int]:
        """Arrivals per persona."""
        found = np.bincount(self.persona, minlength=len(PERSONAS))
        return {PERSONAS[i]: int(n) for i, n in enumerate(found) if n}


def window_participants(scenario: Scenario, plan: Plan, seed: int) -> tuple[Participants, np.ndarray]:
    """The simulator's participants for this seed and the mask of those the run plays at its
    scale: arriving in the part of the window the run plays, each kept with probability 1/scale.
    Invitees are in the mask too (for sizing); the schedule leaves them to the live sharers."""
    people = generate(scenario, seed)
    start = plan.window.start
    # a step load paces the window's participants by concurrency: any of the window's may come
    end = plan.window.start + plan.window.duration if plan.steps else plan.campaign_t(plan.duration_s)
    inside = (people.t >= start) & (people.t < end)
    keep = np.random.default_rng([seed, 1]).random(len(people)) < 1.0 / plan.scale
    return people, inside & keep


def schedule_for(scenario: Scenario, plan: Plan, seed: int, share: tuple[int, int] = (0, 1)) -> Schedule:
    """The arrivals this process plays: every `count`th of the run's (from `index`), without
    invitees. The same scenario, plan and seed give the same arrivals."""
    people, mask = window_participants(scenario, plan, seed)
    rows = np.flatnonzero(mask & (people.persona != INVITEE))
    index, count = share
    rows = rows[index::count]
    return Schedule(t=people.t[rows], persona=people.persona[rows], channel=people.channel[rows],
                    channels=tuple(c.channel_id for c in scenario.traffic.channels))


def journey_lengths(scenario: Scenario, seed: int) -> dict[str, np.ndarray]:
    """How long each persona's journey lasts from its first request to its last (campaign
    seconds), from a library of journeys played against the campaign's rules."""
    from rehearse.simulator.journeys import build_library

    browsing = scenario.model_copy(update={"personas": scenario.personas.model_copy(update={
        "preheat_browser": scenario.personas.preheat_browser.model_copy(update={"return_at_launch": 0.0})})})
    lengths = {}
    for offset, name in enumerate(PERSONAS):
        source, arrival = (browsing, -86400.0) if name == "preheat_browser" else (scenario, 0.0)
        library = build_library(source, name, LIBRARY_JOURNEYS, seed * 11 + offset, arrival_t=arrival)
        ends = library.starts[1:] - 1
        lengths[name] = np.where(library.lengths() > 0, library.offset_s[np.maximum(ends, 0)], 0.0)
    return lengths


def expected_active(scenario: Scenario, plan: Plan, seed: int) -> np.ndarray:
    """Participants expected to be active at once, per wall second of the run (invitees
    included): each arrival the run plays, active for a journey length drawn for its persona;
    in a step load, each step's number."""
    if plan.steps:
        seconds = int(math.ceil(plan.duration_s)) + 1
        return np.array([plan.steps[step] for w in range(seconds) if (step := plan.step_at(w)) is not None],
                        dtype=float)  # every second of a step load has its step
    people, mask = window_participants(scenario, plan, seed)
    rows = np.flatnonzero(mask)
    lengths = journey_lengths(scenario, seed)
    rng = np.random.default_rng([seed, 2])
    stay = np.zeros(len(rows))
    for code, name in enumerate(PERSONAS):
        # a returning preheat visitor plays a normal journey after launch
        source = "normal" if name == "preheat_browser" and plan.window.start >= 0 else name
        mine = people.persona[rows] == code
        if mine.any() and len(lengths[source]):
            stay[mine] = rng.choice(lengths[source], size=int(mine.sum()))
    seconds = int(math.ceil(plan.duration_s)) + 1
    begin = (people.t[rows] - plan.window.start) / plan.compress
    end = begin + stay / plan.compress
    change = np.zeros(seconds + 1)
    np.add.at(change, np.clip(np.floor(begin).astype(np.int64), 0, seconds), 1.0)
    np.add.at(change, np.clip(np.ceil(end).astype(np.int64), 0, seconds), -1.0)
    return np.cumsum(change)[:seconds]


def slots_wanted(expected: np.ndarray, wall_s: float) -> int:
    """Slots to hold at wall second `wall_s`: the most participants expected at once over the
    next LOOKAHEAD_S seconds, with a margin."""
    if not len(expected):
        return SLOT_HEADROOM
    lo = min(int(wall_s), len(expected) - 1)
    hi = min(len(expected), lo + int(LOOKAHEAD_S) + 1)
    return int(math.ceil(float(expected[lo:hi].max()) * SLOT_MARGIN)) + SLOT_HEADROOM
