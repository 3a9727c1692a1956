"""The two live incidents of a launch rehearsal, played by the harness during a swarm run:

- **A ban, measured by an active prober.** A prober asks the target for a share link a few times
  a wall second (each time as a fresh synthetic participant that logs in once and shares, so no
  share cap is met); at the set moment the platform bans the domain the target was last issuing
  links on, and reports it through `report_ban`. The links that follow show, to about a second,
  how long the target kept issuing the banned domain, whatever the organic sharing rate.
- **A budget race.** Fresh participants open the page, log in and do one institution's tasks;
  then its prize pool is cut small through the target's `limit_pool` operation and they all
  open its envelope at the same moment, each as a burst of copies (a double tap, a script racing
  the interface), until it refuses. The payout gate judges the cap, the attempts and the rules from
  the rows. A target that maps no `limit_pool` (a sale's stock cannot be cut) is raced at the end
  of what it holds by the harness's own reckoning: the pool with the fewest envelopes left (what
  earlier phases of the rehearsal and this run were seen paid from it taken off its budget), with
  enough racers to spend it all and a quarter more (at most MAX_UNCUT_RACERS).

- **Early birds.** Before the window is played, a few fresh participants try to take part
  during the preheat (the target's clock set back to the middle of it through `set_clock`): log
  in, do a task, open an envelope. The rules gate judges that the target refused them.

All record their requests like any participant's (personas `prober`, `racer`, and
`preheat_browser` for the early birds), through the player and the target contract; none knows
HTTP beyond the `send` it is given.
"""

from __future__ import annotations

import json
import random
from typing import Any, Callable, Mapping

from rehearse.observations.schema import HARNESS_KEY_PREFIX, PROBE
from rehearse.personas.identity import Identity, IdentityFactory
from rehearse.personas.steps import Act, Outcome
from rehearse.scenarios import Scenario
from rehearse.scenarios.campaign import Institution
from rehearse.client.contract import Contract
from rehearse.client.player import Player, Send
from rehearse.swarm.settings import RehearsalPlan

PROBES_PER_S = 5.0  # share links asked for per wall second
RACE_UNCUT = "race_uncut"
"""The event of a budget race run without its cut (the target has no `limit_pool`), and why."""
Event = Callable[[float, str, str], None]


class Prober:
    """Asks the target for share links as fresh participants; remembers the last domain issued."""

    def __init__(self, player: Player, identities: IdentityFactory, send: Send) -> None:
        self.player, self.identities, self.send = player, identities, send
        self.last_domain = ""

    def probe(self) -> str:
        """One share link as a new participant (login, share); the domain it used, or ""."""
        user = self.identities.new("prober", self.player.clock())
        session: dict[str, Any] = {}
        if not self.player.act(Act("login", invite_code=None), user, session, self.send).ok:
            self.player.forget(user)
            return ""
        outcome = self.player.act(Act("share"), user, session, self.send)
        self.player.forget(user)
        domain = str(outcome.data.get("share_domain") or "") if outcome.ok else ""
        self.last_domain = domain or self.last_domain
        return domain


MAX_UNCUT_RACERS = 300
"""The most participants an uncut race sends (each tap `copies` requests at once): bounded, so a
pool holding more envelopes than this is raced with repeated taps, not to its end (and says so)."""


def race_pool(scenario: Scenario, left_fen: Mapping[str, int] | None = None) -> Institution:
    """The institution whose pool the race cuts: the one with the fewest tasks to unlock; for a
    race that cannot cut (`left_fen`: each pool's money left by the harness's reckoning), the one
    with the fewest envelopes left, then the fewest tasks."""
    if left_fen is None:
        return min(scenario.campaign.institutions, key=lambda i: len(i.tasks))
    return min(scenario.campaign.institutions, key=lambda i: (envelopes_left(i, left_fen.get(i.id, 0)), len(i.tasks)))


def envelopes_left(institution: Institution, left_fen: int) -> int:
    """How many of the institution's smallest envelopes `left_fen` pays (at least 0)."""
    return max(0, -(-left_fen // max(1, institution.envelope.min_possible_fen)))


def uncut_racers(planned: int, envelopes: int) -> int:
    """Racers for a pool nobody can cut: every envelope left and a quarter more (at least ten
    more), never fewer than planned, at most MAX_UNCUT_RACERS."""
    return min(MAX_UNCUT_RACERS, max(planned, envelopes + max(10, envelopes // 4)))


def race_cap_fen(institution: Institution, racers: int) -> int:
    """Money left in the cut pool: an eighth of the racers' envelopes at their largest, so that
    most of the racers' taps meet a pool that is about to run dry."""
    return max(1, racers // 8) * institution.envelope.max_possible_fen


class Race:
    """Fresh participants, ready at the envelope of one pool, opening it all at once.

    `cuttable`: the target maps `limit_pool` (the race cuts the pool small, `plan.racers` race);
    otherwise `size()` picks the pool and the racers from the money left by the harness's
    reckoning: `plan.money_left` (what earlier phases left; else each pool's budget) less what
    `paid(pool)` says this run saw paid from it."""

    def __init__(self, scenario: Scenario, player: Player, identities: IdentityFactory, plan: RehearsalPlan,
                 operation: Callable[..., dict | None], event: Event, clock: Callable[[], float],
                 cuttable: bool = True, paid: Callable[[str], int] = lambda pool: 0) -> None:
        self.scenario, self.player, self.identities, self.plan = scenario, player, identities, plan
        self.operation, self.event, self.clock = operation, event, clock
        self.cuttable, self.paid = cuttable, paid
        self.institution = race_pool(scenario)
        self.racers = plan.racers
        self.left_fen: int | None = None  # an uncut race: its pool's money left, by the harness's reckoning

    def size(self) -> int:
        """The racers to bring to the envelope, the pool chosen: as planned where the target can
        cut the pool; otherwise the pool with the fewest envelopes left and enough racers to
        spend them all (the last units of a sale, met by simultaneous orders)."""
        if self.cuttable:
            return self.racers
        start = dict(self.plan.money_left) or self.scenario.pool_budgets()
        left = {i.id: start.get(i.id, 0) - self.paid(i.id) for i in self.scenario.campaign.institutions}
        self.institution = race_pool(self.scenario, left)
        self.left_fen = left[self.institution.id]
        self.racers = uncut_racers(self.plan.racers, envelopes_left(self.institution, self.left_fen))
        return self.racers

    def prepare(self, send: Send) -> tuple[Identity, dict[str, Any]] | None:
        """One racer up to the envelope: page (its signature), login, the institution's tasks."""
        user = self.identities.new("racer", self.clock())
        session: dict[str, Any] = {}
        steps = [Act("open_page"), Act("login", invite_code=None)]
        steps += [Act("complete_task", institution=self.institution.id, task=t.id) for t in self.institution.tasks]
        for act in steps:
            if not self.player.act(act, user, session, send).ok:
                self.player.forget(user)
                return None
        return user, session

    def cut(self) -> int | None:
        """Cut the pool through `limit_pool`; the money left in it, or None if the target cannot
        (the race is run all the same: to the pool's end by the harness's reckoning where `size()`
        could bring enough racers, else as repeated taps, said as a `race_uncut` event)."""
        left = race_cap_fen(self.institution, self.racers)
        pool = self.institution.id
        if self.cuttable and self.operation("limit_pool", pool=pool, left_fen=left) is not None:
            self.event(self.clock(), "pool_cap", json.dumps({"pool": pool, "left_fen": left}))
            self.event(self.clock(), "incident", f"budget race: {self.racers} participants open {pool}'s envelope "
                                                 f"at once, {self.plan.copies} copies each, against {left:,} fen left")
            return left
        envelopes = None if self.left_fen is None else envelopes_left(self.institution, self.left_fen)
        if (envelopes is not None and self.left_fen is not None
                and envelopes < self.racers):  # sized to the pool's end: it must refuse the rest
            self.event(self.clock(), "incident", f"budget race: {self.racers} participants open {pool}'s envelope at "
                                                 f"once, {self.plan.copies} copies each, uncut, against the "
                                                 f"{max(0, self.left_fen):,} fen ({envelopes:,} envelopes) it holds by "
                                                 "the harness's reckoning")
            return None
        held = ("" if envelopes is None else f", holding {envelopes:,} envelopes by the harness's reckoning (more than "
                f"{self.racers:,} racers can spend)")
        self.event(self.clock(), RACE_UNCUT, f"the target could not cut pool {pool} for the budget race (no "
                                             f"limit_pool operation, or it refused){held}: the racers open its "
                                             "envelope at once against what it holds")
        self.event(self.clock(), "incident", f"budget race: {self.racers} participants open {pool}'s "
                                             f"envelope at once, {self.plan.copies} copies each, uncut")
        return None

    def open(self, racer: tuple[Identity, dict[str, Any]], send: Send,
             send_burst: Callable[..., list[tuple[int, bytes, float]]]) -> Outcome:
        """The racer's tap: `copies` requests at once."""
        user, session = racer
        act = Act("open_envelope", institution=self.institution.id, burst=self.plan.copies)
        try:
            return self.player.act(act, user, session, send, send_burst)
        finally:
            self.player.forget(user)


def rehearsal_player(scenario: Scenario, contract: Contract, seed: int, clock: Callable[[], float],
                     record: Callable[[tuple[Any, ...]], None],
                     lane: tuple[int, int] = (0, 1)) -> tuple[Player, IdentityFactory]:
    """A player for the harness's own participants (no platform: their shares ban nothing), in
    the phase's identity lane (no two phases of a rehearsal share a phone or an address)."""
    identities = IdentityFactory(scenario, seed, HARNESS_KEY_PREFIX, *lane)
    return Player(scenario, contract, identities, random.Random(seed), clock=clock, compress=1.0,
                  record=record), identities


EARLY_BIRDS = 5


def early_birds(scenario: Scenario, contract: Contract, seed: int, send: Send,
                record: Callable[[tuple[Any, ...]], None], operation: Callable[..., dict | None],
                event: Event) -> None:
    """Participants trying to take part in the middle of the preheat, on the target's clock set
    there (the caller sets it back to the window afterwards)."""
    t = -scenario.campaign.phases.preheat_s / 2
    if t >= 0:
        return
    if operation("set_clock", t=t) is None:
        event(t, "incident_failed", "the target's clock cannot be set to the preheat (no set_clock): "
                                    "taking part before launch is not tried")
        return
    player, identities = rehearsal_player(scenario, contract, seed, lambda: t, record)
    event(t, PROBE, f"preheat: {EARLY_BIRDS} participants try to take part {-t / 3600:,.1f} h before launch")
    for _ in range(EARLY_BIRDS):
        user = identities.new("preheat_browser", t)
        session: dict[str, Any] = {}
        for act in early_steps(scenario):
            player.act(act, user, session, send)


FLAGGED_MAX = 10
"""At most this many virtual segments, and as many blacklisted numbers, are tried."""


def flagged_numbers(scenario: Scenario, contract: Contract, seed: int, send: Send,
                    record: Callable[[tuple[Any, ...]], None], clock: Callable[[], float], event: Event) -> None:
    """At the window's start, script accounts on virtual-segment and blacklisted numbers try to
    log in and take an envelope: the target must refuse them. However few scripts the window's
    scale brings, the check has evidence (the rules gate reads the numbers' marks)."""
    tried = [("virtual", segment) for segment in scenario.antifraud.virtual_segments[:FLAGGED_MAX]]
    tried += [("blacklisted", number) for number in scenario.antifraud.blacklist[:FLAGGED_MAX]]
    if not tried:
        return
    t = clock()
    player, identities = rehearsal_player(scenario, contract, seed, clock, record)
    event(t, PROBE, f"flagged numbers: {len(tried)} script accounts (one per virtual segment and per "
                         "blacklisted number) try to log in")
    for kind, listed in tried:
        user = identities.new("fraud_script", t, number=kind, listed=listed)
        session: dict[str, Any] = {}
        for act in early_steps(scenario):
            outcome = player.act(act, user, session, send)
            if act.action == "login" and not outcome.ok:
                break  # refused at the door, as it must be
        player.forget(user)


def early_steps(scenario: Scenario) -> list[Act]:
    """What an early bird tries: the page, a login, the first institution's first task (if it
    has one) and its envelope."""
    institution = scenario.campaign.institutions[0]
    task = [Act("complete_task", institution=institution.id, task=institution.tasks[0].id)] if institution.tasks else []
    return [Act("open_page"), Act("login", invite_code=None), *task, Act("open_envelope", institution=institution.id)]
