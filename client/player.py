"""Playing personas against a live target: steps in, requests out, one observation row per act.

The player is engine-neutral: the Locust user gives it FastHttpUser's `send` and gevent's
`sleep`, the walkthrough gives it httpx and a narrator. `record` receives one tuple per request,
in the order of the requests table's columns (`observations.REQUESTS.columns`). Time is
compressed: a Wait of s campaign seconds sleeps s / compress wall seconds. Invitees a sharer
brings (Spawn) queue up here until due; the next free user plays them.

Every row carries the harness's own ledger: the prize a payout drew on and its attempt. A persona
retries a step by yielding the same Act again, so the copies of a burst and the retries of one
step share an attempt id; a request cut off by a stop (the engine kills the user mid-request) is
still a row, with the error `unanswered`; so is one that did not complete (status 0) while the
engine says it is stopping, whatever the transport said.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from rehearse.personas.identity import Identity, IdentityFactory
from rehearse.personas.journeys import PERSONAS
from rehearse.observations.schema import UNANSWERED
from rehearse.personas.steps import WAITED, Act, Outcome, Spawn, Wait, replay_note
from rehearse.scenarios import Scenario
from rehearse.scenarios.rules import prize_of
from rehearse.client.contract import Contract, Link, RequestSpec
from rehearse.client.templates import remember

def _link_domain(data: dict[str, Any]) -> str:
    """The domain of a share link the target issued: the host of the URL the harness was given
    (what a visitor will open), else the domain field the target reported."""
    url = data.get("share_url")
    domain = Link.parse(str(url)).domain if url else str(data.get("share_domain") or "")
    return domain.lower()


@dataclass(frozen=True)
class Arrival:
    """One participant due at campaign time `t` (swarm/arrivals.py schedules them); an invitee
    carries its sharer's link in `params`."""

    t: float
    persona: str
    channel: str = ""
    params: dict[str, Any] | None = field(default=None, compare=False)


class NotSent(BaseException):
    """Raised by a send that stopped before sending anything (the engine is stopping): unlike a
    request cut off on the wire, it leaves no row. Engines may subclass it with their own stop
    signal (the swarm: gevent's GreenletExit)."""


Answer = tuple
"""What a send gives back: (status, body, latency in ms[, the answer's headers]); status 0 when
the request did not complete."""
Send = Callable[[RequestSpec], Answer]
SendBurst = Callable[[list[RequestSpec]], list[Answer]]
"""Send every request at once (a burst's copies, each built on its own: one {request.id} each)."""
MAX_STEPS = 500  # a journey longer than this is a persona bug; stop it rather than loop
MIN_SLEEP_S = 0.001  # shorter waits are saved up: below the event loop's timer granularity


@dataclass(order=True)
class _Due:
    at_t: float
    seq: int
    params: dict[str, Any] = field(compare=False)


class Player:
    """Plays one participant after another for one load process."""

    def __init__(self, scenario: Scenario, contract: Contract, identities: IdentityFactory,
                 rng: random.Random, clock: Callable[[], float], compress: float,
                 record: Callable[[tuple[Any, ...]], None], engine: str = "swarm",
                 platform: Any = None, stopping: Callable[[], bool] = lambda: False) -> None:
        self.scenario = scenario
        self.contract = contract
        self.identities = identities
        self.rng = rng
        self.clock = clock  # campaign seconds
        self.compress = compress
        self.record = record
        self.engine = engine
        self.platform = platform
        self.stopping = stopping  # the harness is stopping (or its parent is gone): see act()
        self._due: list[_Due] = []
        self._seq = itertools.count()
        self.paid_by_persona: dict[str, int] = {}
        self._steps: dict[str, tuple[Act, str, int]] = {}  # user_key -> (last act, its attempt, steps)
        # user_key -> attempt -> (fen, digest of the body) of each paying answer seen for it
        self._paid_answers: dict[str, dict[str, set[tuple[int, bytes]]]] = {}

    # --- who plays next --------------------------------------------------------------------

    def next_participant(self, persona: str | None = None) -> Identity:
        """A due invitee if there is one, else a new participant of the given persona (a closed
        loop: the walkthrough's and the benchmarks' way; the swarm schedules arrivals)."""
        now = self.clock()
        if self._due and self._due[0].at_t <= now:
            params = heapq.heappop(self._due).params
            return self.identities.invitee(params["link"], params.get("invite_code"), now,
                                           params.get("channel"))
        return self.identities.new(persona or self.identities.persona_for(self.rng), now)

    def participant(self, arrival: Arrival) -> Identity:
        """The participant of a scheduled arrival (an invitee carries its sharer's link)."""
        params = arrival.params
        if params is not None:
            return self.identities.invitee(params["link"], params.get("invite_code"), arrival.t,
                                           params.get("channel"))
        return self.identities.new(arrival.persona, arrival.t, channel=arrival.channel or None)

    def due_invitees(self, now: float) -> list[Arrival]:
        """The invitees the sharers' links bring, due by campaign time `now`."""
        due = []
        while self._due and self._due[0].at_t <= now:
            entry = heapq.heappop(self._due)
            due.append(Arrival(entry.at_t, "invitee", str(entry.params.get("channel") or ""), entry.params))
        return due

    def pending_invitees(self) -> int:
        return len(self._due)

    # --- one journey -----------------------------------------------------------------------

    def play(self, user: Identity, send: Send, sleep: Callable[[float], None],
             running: Callable[[], bool] | None = None, send_burst: SendBurst | None = None) -> None:
        """Drive the user's journey to its end (or until running() turns False)."""
        journey = PERSONAS[user.persona](user, self.scenario, self.rng)
        try:
            self._play(user, journey, send, sleep, running, send_burst)
        finally:
            self.forget(user)

    def forget(self, user: Identity) -> None:
        """The participant is done: drop its attempt bookkeeping."""
        self._steps.pop(user.user_key, None)
        self._paid_answers.pop(user.user_key, None)

    def _play(self, user: Identity, journey, send: Send, sleep: Callable[[float], None],
              running: Callable[[], bool] | None, send_burst: SendBurst | None) -> None:
        session: dict[str, Any] = {}
        outcome: Outcome | None = None
        owed = 0.0  # wall seconds of waiting saved up from waits too short to sleep
        for _ in range(MAX_STEPS):
            if running is not None and not running():
                journey.close()
                return
            try:
                step = next(journey) if outcome is None else journey.send(outcome)
            except StopIteration:
                return
            kind = type(step)
            if kind is Act:
                outcome = self.act(step, user, session, send, send_burst)
            elif kind is Wait:
                owed += step.seconds / self.compress if step.seconds > 0 else 0.0
                if owed >= MIN_SLEEP_S:
                    sleep(owed)
                    owed = 0.0
                outcome = WAITED
            elif kind is Spawn:
                heapq.heappush(self._due, _Due(self.clock() + step.after_seconds, next(self._seq),
                                               dict(step.params)))
                outcome = WAITED
            else:
                raise TypeError(f"persona {user.persona} yielded {step!r}; expected Act, Wait or Spawn")
        journey.close()

    def act(self, act: Act, user: Identity, session: dict[str, Any], send: Send,
            send_burst: SendBurst | None = None) -> Outcome:
        """One action: through the platform (link bans), the contract and the wire. A burst is
        sent in parallel when the engine can; every copy is recorded; the first that worked wins."""
        domain = ""
        action = act.action
        attempt = self._attempt(act, user)
        if action == "visit_link" and act.params.get("url"):
            domain = Link.parse(act.params["url"]).domain
            if self.platform is not None and not self.platform.visit(domain):
                outcome = Outcome(ok=False, status=0, refused=True, error="link_banned")
                self._record(act, user, domain, outcome, attempt)
                return outcome
        burst = act.params.get("burst", 1) if send_burst is not None else 1
        specs = [self.contract.build(act, user, session, attempt) for _ in range(burst)]
        sent_t, sent_at = self.clock(), time.perf_counter()  # a row's t is when its request went out
        try:
            raw = send_burst(specs) if send_burst is not None and burst > 1 else [send(specs[0])]
        except NotSent:
            raise
        except BaseException:  # stopped mid-request (e.g. gevent's GreenletExit): sent, never answered
            cut = Outcome(ok=False, latency_ms=(time.perf_counter() - sent_at) * 1000, error=UNANSWERED)
            for _ in range(burst):
                self._record(act, user, domain, cut, attempt, sent_t)
            raise
        # A request that did not complete while the harness was stopping (or after its parent
        # died, taking an auto-started backend with it) was cut by the harness, not the target.
        answers = [self.contract.read(act, *answer) if answer[0] or not self.stopping()
                   else (Outcome(ok=False, latency_ms=answer[2], error=UNANSWERED), {}) for answer in raw]
        answers = self._unmarked_replays(act.action, user, attempt, raw, answers)
        outcome, learned = next((a for a in answers if a[0].ok), answers[0])
        for copy, copy_learned in answers:
            if copy is not outcome:  # the winner is recorded below, once
                self._settle(act, user, domain, copy, attempt, sent_t)
                remember(session, copy_learned)  # its cookies are the participant's too
        remember(session, learned)
        if action == "share" and outcome.ok:
            domain = _link_domain(outcome.data)
            if self.platform is not None and domain:
                self.platform.share(domain)
        self._settle(act, user, domain, outcome, attempt, sent_t)
        return outcome

    def _unmarked_replays(self, action: str, user: Identity, attempt: str, raw: list, answers: list) -> list:
        """An answer that pays, identical (body and amount) to one already seen for the same
        attempt of an action keyed by `{step.id}`, is the target replaying its stored answer:
        recorded as a replay with the amount it carried, never as a second payment. (A backend
        that pays twice and answers alike is caught by its books: more paid than any answer
        showed.)"""
        keyed = getattr(self.contract, "keyed_by_step", None)
        if keyed is None or not keyed(action):
            return answers
        seen = self._paid_answers.setdefault(user.user_key, {}).setdefault(attempt, set())
        judged = []
        for (outcome, learned), answer in zip(answers, raw):
            if outcome.ok and outcome.payout_fen:
                body = answer[1] if isinstance(answer[1], bytes) else str(answer[1] or "").encode()
                key = (outcome.payout_fen, hashlib.blake2b(body, digest_size=16).digest())
                if key in seen:
                    outcome = replace(outcome, payout_fen=0, error=replay_note(outcome.payout_fen))
                else:
                    seen.add(key)
            judged.append((outcome, learned))
        return judged

    def _attempt(self, act: Act, user: Identity) -> str:
        """The attempt id of this act: a new one per step, the same one when the persona yields
        the same Act again (a retry)."""
        last = self._steps.get(user.user_key)
        if last is not None and last[0] is act:
            return last[1]
        steps = 1 if last is None else last[2] + 1
        attempt = f"{user.user_key}#{steps}"
        self._steps[user.user_key] = (act, attempt, steps)
        return attempt

    def _settle(self, act: Act, user: Identity, domain: str, outcome: Outcome, attempt: str,
                t: float | None = None) -> None:
        if outcome.payout_fen:
            self.paid_by_persona[user.persona] = self.paid_by_persona.get(user.persona, 0) + outcome.payout_fen
        self._record(act, user, domain, outcome, attempt, t)

    def _record(self, act: Act, user: Identity, domain: str, outcome: Outcome, attempt: str,
                t: float | None = None) -> None:
        # t, engine, persona, user_id, action, channel, domain, status, ok, refused, latency_ms,
        # payout_fen, error, prize, attempt: the requests table's column order
        self.record((self.clock() if t is None else t, self.engine, user.persona, user.user_key, act.action,
                     user.channel,
                     domain, outcome.status, outcome.ok, outcome.refused, outcome.latency_ms,
                     outcome.payout_fen, outcome.error or "", prize_of(act.action, act.params), attempt))
