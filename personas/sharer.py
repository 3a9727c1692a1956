"""The `sharer`: a keen participant who shares the campaign and brings friends (fission).

Right after logging in it shares a few times; every share link brings some invitees, fewer
as the campaign grows old (interest halves every `interest_half_life`). Each invitee is a
`Spawn("invitee")` the engine schedules. Having brought enough friends, it asks for the
invite envelope (when the campaign has an invite reward), and waits for late friends a bounded
number of times. Without an invite reward it still shares: its friends arrive and play.
"""

from __future__ import annotations

import random
from typing import Generator

from rehearse.personas.human import Steps, arrive, lognormal, play, poisson, think
from rehearse.personas.identity import Identity
from rehearse.personas.steps import Act, Journey, Outcome, Spawn, Step, Wait
from rehearse.scenarios import Scenario

INVITE_ENVELOPE_TRIES = 3
"""How many times a sharer asks for the invite envelope before giving up."""


def interest(user: Identity, scenario: Scenario) -> float:
    """How keen friends still are when this sharer arrives: 1 at launch, halving over time."""
    half_life = scenario.personas.sharer.interest_half_life
    return 0.5 ** (max(user.arrival_t, 0.0) / half_life)


def share_and_invite(user: Identity, scenario: Scenario, rng: random.Random,
                     own_code: str | None) -> Generator[Step, Outcome, int]:
    """Share a few times and spawn the invitees each link brings; how many it brought."""
    settings = scenario.personas.sharer
    shares = min(max(1, poisson(rng, settings.shares_mean)), scenario.campaign.caps.shares_per_user)
    per_share = settings.invitees_per_share_mean * interest(user, scenario)
    brought = 0
    for _ in range(shares):
        yield think(rng, settings.think_time)
        shared = yield Act("share")
        if shared.refused:
            break  # the cap is reached: more shares would be refused too
        url = shared.data.get("share_url")
        if not shared.ok or not url:
            continue
        for _ in range(poisson(rng, per_share)):
            yield Spawn("invitee", after_seconds=lognormal(rng, settings.invitee_delay),
                        params={"link": url, "invite_code": own_code, "channel": user.channel})
            brought += 1
    return brought


def claim_invite_envelope(scenario: Scenario, rng: random.Random) -> Steps:
    """Ask for the invite envelope; when refused (friends not in yet), wait and ask again."""
    settings = scenario.personas.sharer
    for attempt in range(INVITE_ENVELOPE_TRIES):
        if attempt:
            yield Wait(lognormal(rng, settings.invitee_delay))
        else:
            yield think(rng, settings.think_time)
        outcome = yield Act("open_invite_envelope")
        if outcome.ok:
            return True
        if not outcome.refused:
            return False
    return False


def sharer(user: Identity, scenario: Scenario, rng: random.Random) -> Journey:
    """The normal funnel with the sharer's rates, plus shares that bring invitees (and the invite
    envelope, when the campaign has one)."""
    settings = scenario.personas.sharer
    login = yield from arrive(rng, settings.think_time, settings.funnel)
    if login is None:
        return
    brought = yield from share_and_invite(user, scenario, rng, login.data.get("invite_code"))
    yield from play(scenario, rng, settings.think_time, settings.funnel, settings.double_tap)
    invite = scenario.campaign.invite
    if invite is not None and brought >= invite.friends_required:
        yield from claim_invite_envelope(scenario, rng)
