"""The `preheat_browser`: arrives while the countdown runs, can only look, may come back.

During the preheat it opens the page, reads the rules, maybe tries to take part too early,
and looks again a few times; then
some come back at launch (after waiting past it) and play as normal users, the rest leave.
Arriving after launch, it simply is a normal user.
"""

from __future__ import annotations

import random

from rehearse.personas.human import lognormal, normal, poisson, think
from rehearse.personas.identity import Identity
from rehearse.personas.steps import Act, Journey, Wait
from rehearse.scenarios import Scenario

MAX_PAGE_VIEWS = 20
"""A browser's page views during the preheat are bounded, whatever visits_mean says."""


def preheat_browser(user: Identity, scenario: Scenario, rng: random.Random) -> Journey:
    """Look during the preheat (some try to log in, which must be refused); maybe return as a
    normal user."""
    if user.arrival_t >= 0:
        yield from normal(user, scenario, rng)
        return
    settings = scenario.personas.preheat_browser
    page = yield Act("open_page")
    if not page.ok:
        return
    waited = 0.0
    pause = think(rng, settings.think_time)
    waited += pause.seconds
    yield pause
    yield Act("view_rules")
    if settings.tries_early > 0 and rng.random() < settings.tries_early:
        yield think(rng, settings.think_time)
        yield Act("login")  # "take part" before launch: the rules say not yet
    views = min(1 + poisson(rng, settings.visits_mean - 1), MAX_PAGE_VIEWS)
    for _ in range(views - 1):
        pause = think(rng, settings.think_time)
        waited += pause.seconds
        yield pause
        yield Act("open_page")
    if rng.random() >= settings.return_at_launch:
        return
    until_launch = max(0.0, -user.arrival_t - waited)
    yield Wait(until_launch + lognormal(rng, settings.return_delay))
    yield from normal(user, scenario, rng)
