"""The walkthrough engine: plays a few participants' journeys, one step at a time, and judges
every answer against the campaign's rules (`scenarios.rules`).

    walk = Walkthrough(scenario, target, on_step=print)
    reports = walk.play([Participant("Normal participant", user, seed=3)])

A group of participants (a sharer and the friends it brings) shares one campaign clock: the
engine interleaves their journeys by campaign time, moving the target's clock where the target
lets it (`Target.at`). Waits are never slept: campaign time jumps. The target answers each
`Act` with one `Copy` per request sent (a double tap sends two); the engine compares how many
were done with how many the rules allow, and says which rule a mismatch breaks.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

from rehearse.personas.identity import Identity, IdentityFactory
from rehearse.personas.journeys import PERSONAS
from rehearse.personas.steps import THROTTLED, WAITED, Act, Journey, Outcome, Spawn, Wait, paying_replays, replayed_fen
from rehearse.scenarios import Scenario
from rehearse.scenarios.rules import ParticipantRules, Rule

MAX_STEPS = 500
"""A journey longer than this is a persona bug: the walkthrough stops it."""
MAX_FRIENDS = 10
"""Friends a group may bring: a walkthrough tells a story, not a crowd's."""
RATE_LIMITED = 429
"""The HTTP status for "slow down": any caller may get it, the rules allow it."""


@dataclass
class Participant:
    """One person (or script account) in the walkthrough, with what the rules allow it."""

    label: str
    user: Identity
    seed: int
    start_t: float = 0.0
    inviter: "Participant | None" = None
    rules: ParticipantRules | None = None
    session: dict[str, Any] = field(default_factory=dict)
    friends_brought: int = 0
    leaves_after: str | None = None
    """An action after which the walkthrough stops following this participant (a friend is
    followed until it has logged in with the invite code: the rest is a normal journey)."""


@dataclass(frozen=True)
class Copy:
    """The answer to one request of a step."""

    ok: bool
    refused: bool
    status: int
    payout_fen: int = 0
    error: str = ""
    latency_ms: float = 0.0

    @property
    def broken(self) -> bool:
        return not self.ok and not self.refused

    @property
    def slowed(self) -> bool:
        """Refused for going too fast (HTTP 429, or what the contract calls throttled)."""
        return self.status == RATE_LIMITED or (self.refused and self.error.startswith(THROTTLED))

    @property
    def replayed(self) -> bool:
        """Done, and marked by the target as a replay of an earlier copy (see `times_done`)."""
        return self.ok and replayed_fen(self.error) is not None


def _paying_replays(copies: list[Copy]) -> list[int]:
    """The replays among one step's copies that stand for a payment (personas.steps.paying_replays)."""
    paid = [c.payout_fen for c in copies if c.ok and not c.replayed and c.payout_fen]
    return paying_replays(paid, [replayed_fen(c.error) for c in copies if c.replayed])


def times_done(copies: Iterable[Copy]) -> int:
    """How many times a step was done: each copy done, a replay only where it stands for a payment."""
    copies = list(copies)
    return sum(c.ok and not c.replayed for c in copies) + len(_paying_replays(copies))


def fen_paid(copies: Iterable[Copy]) -> int:
    """What a step's copies were paid, replays that stand for a payment included."""
    copies = list(copies)
    return sum(c.payout_fen for c in copies if c.ok and not c.replayed) + sum(_paying_replays(copies))


@dataclass(frozen=True)
class Mismatch:
    """A step whose answer is not what the rules say: the rule and what went wrong."""

    rule: Rule
    what: str


@dataclass(frozen=True)
class StepReport:
    """One step of one participant: when, what, the answer, and the rules' verdict."""

    t: float
    who: Participant
    act: Act
    copies: tuple[Copy, ...]
    allowed: int
    rule: Rule | None  # the rule that turns (some of) the copies down
    mismatch: Mismatch | None

    @property
    def done(self) -> int:
        return times_done(self.copies)

    @property
    def paid_fen(self) -> int:
        return fen_paid(self.copies)

    @property
    def slowed(self) -> bool:
        return any(c.slowed for c in self.copies)


class Target(Protocol):
    """Where the walkthrough's requests go (a live backend, or the rules themselves)."""

    def at(self, t: float) -> None:
        """The campaign time of the next requests."""

    def act(self, who: Participant, act: Act) -> tuple[Outcome, list[Copy]]:
        """Do one step: the Outcome the persona sees, and the answer to every request sent."""


ANSWERS = Rule("answers", "every request gets an answer: done, or refused by a rule")
ALLOWED = Rule("allowed", "what the rules allow is done")


def judge(t: float, who: Participant, act: Act, copies: list[Copy]) -> StepReport:
    """Compare the answers with the rules; remember what the backend did."""
    rules = who.rules
    assert rules is not None
    sent = len(copies)
    allowed, rule = rules.allowed_copies(act.action, act.params, t, sent)
    times = times_done(copies)
    mismatch = None
    broken = [c for c in copies if c.broken and not c.slowed]
    if times > allowed:
        stopping = rule or ANSWERS
        what = ("done although the rules refuse it" if sent == 1
                else f"{times} of {sent} requests done; the rules allow {allowed}")
        mismatch = Mismatch(stopping, what)
    elif broken:
        first = broken[0]
        mismatch = Mismatch(ANSWERS,
                            f"the backend failed ({first.error or f'HTTP {first.status}'})")
    elif times < allowed and not any(c.slowed for c in copies):
        mismatch = Mismatch(ALLOWED, "refused although the rules allow it")
    for _ in range(times):
        rules.settle(act.action, act.params)
    return StepReport(t, who, act, tuple(copies), allowed, rule, mismatch)


@dataclass(order=True)
class _Turn:
    t: float
    seq: int
    who: Participant = field(compare=False)
    journey: Journey = field(compare=False)
    outcome: Outcome | None = field(compare=False, default=None)
    steps: int = field(compare=False, default=0)


class Walkthrough:
    """Plays groups of participants against a target and reports every step."""

    def __init__(self, scenario: Scenario, target: Target, identities: IdentityFactory,
                 on_step: Callable[[StepReport], None] = lambda _: None,
                 on_wait: Callable[[Participant, float, float], None] = lambda *_: None) -> None:
        self.scenario = scenario
        self.target = target
        self.identities = identities
        self.on_step = on_step
        self.on_wait = on_wait
        self._seq = itertools.count()

    def play(self, group: list[Participant]) -> list[StepReport]:
        """Play the group's journeys (and the friends they bring) to their ends, in campaign time."""
        reports: list[StepReport] = []
        turns: list[_Turn] = []
        for who in group:
            self._enter(turns, who)
        while turns:
            turn = heapq.heappop(turns)
            self._advance(turn, turns, reports)
        return reports

    def _enter(self, turns: list[_Turn], who: Participant) -> None:
        who.rules = who.rules or ParticipantRules(self.scenario, who.user.phone)
        journey = PERSONAS[who.user.persona](who.user, self.scenario, random.Random(who.seed))
        heapq.heappush(turns, _Turn(who.start_t, next(self._seq), who, journey))

    def _advance(self, turn: _Turn, turns: list[_Turn], reports: list[StepReport]) -> None:
        """Run one participant's journey from its turn until it waits (back in the queue) or ends."""
        who, t = turn.who, turn.t
        while turn.steps < MAX_STEPS:
            turn.steps += 1
            try:
                step = next(turn.journey) if turn.outcome is None else turn.journey.send(turn.outcome)
            except StopIteration:
                return
            if isinstance(step, Wait):
                if step.seconds > 0:
                    self.on_wait(who, t, step.seconds)
                    turn.t, turn.seq, turn.outcome = t + step.seconds, next(self._seq), WAITED
                    heapq.heappush(turns, turn)
                    return
                turn.outcome = WAITED
            elif isinstance(step, Spawn):
                turn.outcome = WAITED
                if step.persona == "invitee" and who.friends_brought < MAX_FRIENDS:
                    who.friends_brought += 1
                    self._enter(turns, self._friend(who, t + step.after_seconds, step.params))
            else:
                self.target.at(t)
                outcome, copies = self.target.act(who, step)
                report = judge(t, who, step, copies)
                if step.action == "login" and report.done and who.inviter is not None:
                    who.inviter.rules.friends += 1  # type: ignore[union-attr]
                reports.append(report)
                self.on_step(report)
                turn.outcome = outcome
                if step.action == who.leaves_after and report.done:
                    break
        turn.journey.close()

    def _friend(self, inviter: Participant, t: float, params: dict[str, Any]) -> Participant:
        user = self.identities.invitee(params["link"], params.get("invite_code"), t, params.get("channel"))
        return Participant(f"Friend {inviter.friends_brought} of the {inviter.label.lower()}", user,
                           seed=inviter.seed * 100 + inviter.friends_brought, start_t=t, inviter=inviter,
                           leaves_after="login")
