"""The persona registry: each persona's journey, by the name scenarios and engines use.

    journey = PERSONAS[user.persona](user, scenario, random.Random(seed))
    step = next(journey)                 # then journey.send(outcome) for each step
"""

from __future__ import annotations

import random

from rehearse.personas.browser import preheat_browser
from rehearse.personas.fraud import fraud_script
from rehearse.personas.human import invitee, normal
from rehearse.personas.identity import Identity
from rehearse.personas.sharer import sharer
from rehearse.personas.steps import Journey, JourneyFactory
from rehearse.scenarios import RehearseError, Scenario


class PersonaError(RehearseError):
    """A persona name that no journey is written for."""

PERSONAS: dict[str, JourneyFactory] = {
    "normal": normal,
    "sharer": sharer,
    "fraud_script": fraud_script,
    "preheat_browser": preheat_browser,
    "invitee": invitee,
}


def journey_for(user: Identity, scenario: Scenario, rng: random.Random) -> Journey:
    """The journey of this user's persona; a clear error for a persona nobody wrote."""
    try:
        factory = PERSONAS[user.persona]
    except KeyError:
        raise PersonaError(f"no journey for persona {user.persona!r}; known personas: "
                       f"{', '.join(sorted(PERSONAS))}") from None
    return factory(user, scenario, rng)
