"""Journeys for the simulator from the same persona generators the swarm plays (contract 1).

Running a Python generator for each of a million participants is too slow for a whole
campaign in seconds, so each persona's generator is played a few thousand times against
`RulesBackend` (the campaign's rules and the scenario's anti-fraud effectiveness, no capacity
limits), and the steps are kept as flat arrays: a library of journeys. Every simulated
participant then takes one journey of its persona, expanded with numpy (`expand`). What
depends on the whole campaign's state (queueing, budget, bans) is applied afterwards by the
campaign model, on the expanded actions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from rehearse.personas.identity import Identity, IdentityFactory
from rehearse.personas.journeys import PERSONAS as JOURNEYS
from rehearse.personas.steps import WAITED, Act, Outcome, Spawn, Wait
from rehearse.scenarios import Scenario
from rehearse.scenarios.rules import PAYOUT_ACTIONS, ParticipantRules
from rehearse.scenarios.target import ACTIONS

ACTION_CODES = {name: code for code, name in enumerate(ACTIONS)}
OK, REFUSED = 0, 1
MAX_STEPS = 500


@dataclass
class RulesBackend:
    """The campaign's rules for one participant (`scenarios.rules`), with no capacity limits:
    what a healthy backend answers, and how often each anti-fraud check stops a script."""

    scenario: Scenario
    user: Identity
    rng: random.Random
    rules: ParticipantRules = field(init=False)

    def __post_init__(self) -> None:
        self.rules = ParticipantRules(self.scenario, self.user.phone)

    def answer(self, act: Act) -> Outcome:
        name, params, rules = act.action, act.params, self.rules
        antifraud = self.scenario.antifraud
        fraud = self.user.persona == "fraud_script"
        if name in ("open_page", "visit_link"):
            rules.settle(name, params)
            return Outcome(ok=True, status=200, data={"invite_code": "inviter", "sign": "s"})
        if name == "view_rules":
            return Outcome(ok=True, status=200)
        if name == "login":
            if antifraud.is_virtual(self.user.phone) and self._caught(antifraud.effectiveness.virtual_segments):
                return _refused(403, "virtual_number")
            if fraud and antifraud.blacklist and self._caught(self.scenario.personas.fraud_script.blacklisted_share
                                      * antifraud.effectiveness.blacklist):
                return _refused(403, "blacklisted")
            rules.settle(name, params)
            return Outcome(ok=True, status=200, data={"invite_code": f"c-{self.user.user_key}", "token": "t"})
        if not rules.logged_in:
            return _refused(401, "login_required")
        if fraud and antifraud.rate_limits is not None and self._caught(antifraud.effectiveness.rate_limits * 0.5):
            return _refused(429, "rate_limited")  # scripts fire fast: some calls hit the limits
        if name in PAYOUT_ACTIONS and antifraud.signed_payouts and not rules.signed \
                and self._caught(antifraud.effectiveness.signed_payouts):
            return _refused(403, "unsigned_request")
        if name == "open_invite_envelope":
            return _refused(423, "invite_locked")  # the campaign model pays invite rewards by fission
        refusal = rules.game_refusal(name, params)
        if refusal is not None:
            return _refused(409 if refusal.startswith("one_") else 423, refusal)
        rules.settle(name, params)
        if name in PAYOUT_ACTIONS:
            return Outcome(ok=True, status=200, payout_fen=1)
        if name == "share":
            return Outcome(ok=True, status=200, data={"share_url": "https://a.example/s/x", "share_domain": "a.example"})
        return Outcome(ok=True, status=200)

    def _caught(self, effectiveness: float) -> bool:
        return self.rng.random() < effectiveness


def _refused(status: int, error: str) -> Outcome:
    return Outcome(ok=False, status=status, refused=True, error=error)


@dataclass(frozen=True)
class JourneyLibrary:
    """Many journeys of one persona as flat arrays; journey j is rows starts[j]:starts[j+1]."""

    persona: str
    starts: np.ndarray  # int64, length journeys + 1
    offset_s: np.ndarray  # float64, seconds after arrival
    action: np.ndarray  # int8 index into scenarios.target.ACTIONS
    institution: np.ndarray  # int8 index into the campaign's institutions, -1 for none
    outcome: np.ndarray  # int8 OK or REFUSED (by the rules, before capacity and budget)

    @property
    def journeys(self) -> int:
        return len(self.starts) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)


def build_library(scenario: Scenario, persona: str, count: int, seed: int,
                  arrival_t: float = 0.0) -> JourneyLibrary:
    """Play the persona's generator `count` times against the rules and keep the steps."""
    identities = IdentityFactory(scenario, seed)
    rng = random.Random(seed)
    institutions = {inst.id: i for i, inst in enumerate(scenario.campaign.institutions)}
    starts, offsets, actions, places, outcomes = [0], [], [], [], []
    for _ in range(count):
        user = (identities.invitee("https://a.example/s/x", "inviter", arrival_t) if persona == "invitee"
                else identities.new(persona, arrival_t))
        backend = RulesBackend(scenario, user, rng)
        journey = JOURNEYS[persona](user, scenario, rng)
        clock, outcome = 0.0, None
        for _ in range(MAX_STEPS):
            try:
                step = next(journey) if outcome is None else journey.send(outcome)
            except StopIteration:
                break
            if isinstance(step, Wait):
                clock += max(0.0, step.seconds)
                outcome = WAITED
            elif isinstance(step, Spawn):
                outcome = WAITED  # fission comes from simulator.arrivals, not from here
            else:
                # a burst is `burst` requests at once (the live swarm sends them all): each copy
                # is load and is answered by the rules (after the first, mostly "already done")
                answers = [backend.answer(step) for _ in range(max(1, int(step.params.get("burst", 1))))]
                outcome = next((a for a in answers if a.ok), answers[0])
                for answer in answers:
                    offsets.append(clock)
                    actions.append(ACTION_CODES[step.action])
                    places.append(institutions.get(step.params.get("institution", ""), -1))
                    outcomes.append(OK if answer.ok else REFUSED)
        journey.close()
        starts.append(len(offsets))
    return JourneyLibrary(persona=persona, starts=np.asarray(starts, dtype=np.int64),
                          offset_s=np.asarray(offsets, dtype=np.float64),
                          action=np.asarray(actions, dtype=np.int8),
                          institution=np.asarray(places, dtype=np.int8),
                          outcome=np.asarray(outcomes, dtype=np.int8))


@dataclass(frozen=True)
class Actions:
    """Every simulated participant's actions, one row each (the campaign model's input)."""

    t: np.ndarray  # float64 campaign seconds
    who: np.ndarray  # int32 row of the participant in simulator.arrivals.Participants
    action: np.ndarray  # int8
    institution: np.ndarray  # int8
    outcome: np.ndarray  # int8

    def __len__(self) -> int:
        return len(self.t)


def expand(library: JourneyLibrary, arrival_t: np.ndarray, who: np.ndarray,
           rng: np.random.Generator) -> Actions:
    """Give each participant (arrival time, row) a journey from the library, as action rows."""
    pick = rng.integers(0, library.journeys, size=len(arrival_t))
    lengths = library.lengths()[pick]
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(pick)), lengths)
    # the row of each action within the library: its journey's start plus its place in it
    first_row = np.repeat(library.starts[pick], lengths)
    place = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    rows = first_row + place
    return Actions(t=arrival_t[owner] + library.offset_s[rows], who=who[owner].astype(np.int32),
                   action=library.action[rows], institution=library.institution[rows],
                   outcome=library.outcome[rows])
