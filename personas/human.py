"""The human funnel, shared by every persona that is a person: `normal` and `invitee` here,
and the parts `sharer` and `preheat_browser` reuse (think, land, log in, play the game).

A person thinks between steps (lognormal think time), drops out at each step of the funnel
with the scenario's conversion rates, never opens an envelope before finishing that
institution's tasks, and tries a failed step once more before moving on.
"""

from __future__ import annotations

import math
import random
from typing import Generator

from rehearse.personas.identity import Identity
from rehearse.personas.steps import Act, Journey, Outcome, Step, Wait
from rehearse.scenarios import Scenario
from rehearse.scenarios.campaign import Institution
from rehearse.scenarios.people import Funnel, ThinkTime

VIEW_RULES_SHARE = 0.3
"""Share of people who read the rules before logging in (the scenario has no field for it)."""

Steps = Generator[Step, Outcome, bool]
"""A part of a journey: yields steps, then returns whether it got what it was after."""


def lognormal(rng: random.Random, spread: ThinkTime) -> float:
    """A lognormal duration with the given median and sigma, in seconds."""
    return rng.lognormvariate(math.log(spread.median), spread.sigma)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth for small means, a rounded normal for large)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def think(rng: random.Random, think_time: ThinkTime) -> Wait:
    """A human pause before the next step."""
    return Wait(lognormal(rng, think_time))


def land_and_login(rng: random.Random, think_time: ThinkTime, funnel: Funnel,
                   invite_code: str | None) -> Generator[Step, Outcome, Outcome | None]:
    """After the page: think, maybe read the rules, maybe log in. The login Outcome if it
    succeeded, else None (the person left)."""
    yield think(rng, think_time)
    if rng.random() < VIEW_RULES_SHARE:
        yield Act("view_rules")
        yield think(rng, think_time)
    if rng.random() >= funnel.login:
        return None
    login = yield Act("login", invite_code=invite_code)
    return login if login.ok else None


def try_twice(rng: random.Random, think_time: ThinkTime,
              act: Act) -> Generator[Step, Outcome, bool]:
    """Do an action; if it fails (refused or broken), think and try once more. Whether it worked."""
    outcome = yield act
    if outcome.ok:
        return True
    yield think(rng, think_time)
    outcome = yield act
    return outcome.ok


def tap(rng: random.Random, double_tap: float, action: str, **params: str) -> Act:
    """A tap on a payout button; with probability `double_tap` a double tap (two at once)."""
    if double_tap > 0 and rng.random() < double_tap:
        return Act(action, **params, burst=2)
    return Act(action, **params)


def unlock_and_open(rng: random.Random, think_time: ThinkTime, institution: Institution,
                    double_tap: float = 0.0) -> Generator[Step, Outcome, tuple[bool, bool]]:
    """Do every task of one institution, then open its envelope: (still playing, opened).
    A task that fails twice makes the person give up; an envelope that does, not."""
    for task in institution.tasks:
        yield think(rng, think_time)
        act = Act("complete_task", institution=institution.id, task=task.id)
        if not (yield from try_twice(rng, think_time, act)):
            return False, False
    yield think(rng, think_time)
    opened = yield from try_twice(rng, think_time, tap(rng, double_tap, "open_envelope",
                                                       institution=institution.id))
    return True, opened


def play(scenario: Scenario, rng: random.Random, think_time: ThinkTime, funnel: Funnel,
         double_tap: float = 0.0) -> Steps:
    """The logged-in part of the funnel: institutions in order, then follow and the grand draw
    (those the campaign has). False if the person did not start the tasks (they left)."""
    if rng.random() >= funnel.start_tasks:
        return False
    campaign = scenario.campaign
    opened = 0
    for index, institution in enumerate(campaign.institutions):
        if index > 0 and rng.random() >= funnel.next_institution:
            break
        playing, envelope = yield from unlock_and_open(rng, think_time, institution, double_tap)
        opened += envelope
        if not playing:
            break
    followed = False
    if campaign.follow is not None and rng.random() < funnel.follow:
        yield think(rng, think_time)
        followed = (yield Act("follow")).ok
    all_opened = opened == len(campaign.institutions)
    if campaign.grand_round is not None and all_opened and rng.random() < funnel.grand_draw:
        if campaign.follow_required and not followed:
            yield think(rng, think_time)
            yield Act("follow")
        yield think(rng, think_time)
        yield tap(rng, double_tap, "grand_draw")
    return True


def arrive(rng: random.Random, think_time: ThinkTime,
           funnel: Funnel) -> Generator[Step, Outcome, Outcome | None]:
    """Open the campaign page, then land and maybe log in: the login Outcome, or None if the
    person left (or the page did not load)."""
    page = yield Act("open_page")
    if not page.ok:
        return None
    return (yield from land_and_login(rng, think_time, funnel, None))


def normal(user: Identity, scenario: Scenario, rng: random.Random) -> Journey:
    """A participant walking the funnel with the scenario's conversion rates and think times."""
    settings = scenario.personas.normal
    login = yield from arrive(rng, settings.think_time, settings.funnel)
    if login is not None:
        yield from play(scenario, rng, settings.think_time, settings.funnel, settings.double_tap)


def invitee(user: Identity, scenario: Scenario, rng: random.Random) -> Journey:
    """A friend arriving through a share link, who logs in with the inviter's code.
    Lost if the link's domain is banned; a normal user after that."""
    settings = scenario.personas.normal
    if user.link is None:
        landing = yield Act("open_page")
    else:
        landing = yield Act("visit_link", url=user.link)
    if not landing.ok:
        return
    code = landing.data.get("invite_code") or user.invite_code
    login = yield from land_and_login(rng, settings.think_time, settings.funnel, code)
    if login is not None:
        yield from play(scenario, rng, settings.think_time, settings.funnel, settings.double_tap)
