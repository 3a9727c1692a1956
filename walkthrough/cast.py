"""Who plays in a walkthrough: one participant per persona, on journeys that show the rules.

A walkthrough is a rehearsal, not a sample: the people in it go all the way through the funnel
(every conversion rate is 1), so the story reaches the grand draw and the invite reward (when the
campaign has them; without, the last envelope and the friends a link brings). Among
the seeds from the one asked for, each persona's journey is the first that, played against the
rules (`RulesTarget`, no I/O), shows what that persona is there to show: a normal participant
who double-taps an envelope and reaches the grand draw, a sharer whose link brings exactly the
friends the invite reward needs, a preheat browser who tries to take part too early and
comes back at launch. The fraud script
plays one account of each kind its operator runs: a virtual number, a blacklisted number and a
clean one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rehearse.personas.identity import IdentityFactory
from rehearse.scenarios import Scenario
from rehearse.scenarios.people import Funnel
from rehearse.walkthrough.engine import Participant, StepReport, Walkthrough
from rehearse.walkthrough.targets import RulesTarget

PERSONA_LABELS = {
    "normal": "Normal participant",
    "sharer": "Sharer",
    "fraud_script": "Fraud script",
    "preheat_browser": "Preheat browser",
}
WALKTHROUGH_PERSONAS = tuple(PERSONA_LABELS)


def walkthrough_personas(scenario: Scenario) -> tuple[str, ...]:
    """The personas a walkthrough of this campaign can show: those of its mix (a preheat
    browser needs a preheat; a campaign without sharers shows none)."""
    mix = scenario.personas.mix.weights()
    return tuple(p for p in WALKTHROUGH_PERSONAS if mix.get(p, 0) > 0
                 and (p != "preheat_browser" or scenario.campaign.phases.has_preheat))


def payouts_asked(scenario: Scenario, personas: list[str], at: float, seed: int) -> int:
    """How many payout requests (double taps' copies included) the cast sends where every rule
    lets it: what a walkthrough or `target check` asks the target to pay, at most."""
    from rehearse.scenarios.rules import PAYOUT_ACTIONS

    walk_scenario, asked = complete_funnel(scenario), 0

    def count(report: StepReport) -> None:
        nonlocal asked
        if report.act.action in PAYOUT_ACTIONS:
            asked += len(report.copies) or 1

    for g in cast(walk_scenario, personas, at, seed):
        Walkthrough(walk_scenario, RulesTarget(walk_scenario), g.identities, on_step=count).play(g.participants)
    return asked


DOUBLE_TAP = 0.15
"""How often the walkthrough's people double-tap a payout button (enough for one in a journey)."""
SEEDS_TRIED = 300
PREHEAT_LEAD_S = 3600.0
"""A preheat browser of a walkthrough at or after launch arrives this long before launch."""
FRAUD_NUMBERS = {"virtual": "on a virtual-operator number", "blacklisted": "on a blacklisted number",
                 "clean": "on a clean number"}


@dataclass
class Group:
    """Participants who play together on one campaign clock (a sharer and its friends)."""

    persona: str
    title: str
    participants: list[Participant]
    seed: int
    identities: IdentityFactory
    """Where the group's participants (and the friends they bring) get their identities."""


def complete_funnel(scenario: Scenario) -> Scenario:
    """The scenario as a walkthrough plays it: everyone goes all the way, one share link that
    brings friends as keen as at launch, preheat browsers who come back."""
    p = scenario.personas
    keen = Funnel(login=1, start_tasks=1, next_institution=1, follow=1, grand_draw=1)
    personas = p.model_copy(update={
        "normal": p.normal.model_copy(update={"funnel": keen, "double_tap": DOUBLE_TAP}),
        "sharer": p.sharer.model_copy(update={
            "funnel": keen, "double_tap": DOUBLE_TAP, "shares_mean": 0.0,
            "invitees_per_share_mean": float(friends_wanted(scenario)),
            "interest_half_life": 1e12}),
        "preheat_browser": p.preheat_browser.model_copy(update={"return_at_launch": 1.0, "visits_mean": 1.0,
                                                                "tries_early": 1.0}),
    })
    return scenario.model_copy(update={"personas": personas})


def start_time(persona: str, at: float) -> float:
    """When the persona arrives: at `at`, except a preheat browser, who arrives in the preheat."""
    if persona == "preheat_browser" and at >= 0:
        return -PREHEAT_LEAD_S
    return at


def friends_wanted(scenario: Scenario) -> int:
    """The friends a walkthrough's sharer brings: what the invite reward needs (else one)."""
    invite = scenario.campaign.invite
    return invite.friends_required if invite is not None else 1


def shows_the_rules(scenario: Scenario, persona: str) -> Callable[[list[StepReport]], bool]:
    """What a journey of this persona must show to be the walkthrough's."""
    campaign = scenario.campaign
    required = friends_wanted(scenario)
    # the end of a full journey: the grand draw, else the last institution's envelope
    last = "grand_draw" if campaign.grand_round is not None else "open_envelope"
    last_place = {} if campaign.grand_round is not None else {"institution": campaign.institutions[-1].id}
    reward = "open_invite_envelope" if campaign.invite is not None else "share"

    def done(reports: list[StepReport], action: str, **params: str) -> bool:
        return any(r.act.action == action and r.done and params.items() <= r.act.params.items() for r in reports)

    if persona == "normal":
        return lambda rs: done(rs, last, **last_place) and any(r.act.params.get("burst", 1) > 1 for r in rs)
    if persona == "sharer":
        return lambda rs: done(rs, reward) and rs[0].who.friends_brought == required
    if persona == "preheat_browser":
        return lambda rs: done(rs, "login")
    return lambda rs: True


def group(scenario: Scenario, identities: IdentityFactory, persona: str, at: float, seed: int,
          number: str | None = None) -> Group:
    """The group one participant of `persona` starts, its journey played with `seed`."""
    user = identities.new(persona, start_time(persona, at), number=number)
    label = PERSONA_LABELS[persona]
    title = f"{label} ({FRAUD_NUMBERS[number]})" if number else label
    return Group(persona, title, [Participant(label, user, seed, start_time(persona, at))], seed, identities)


def pick_seed(scenario: Scenario, persona: str, at: float, seed: int) -> int:
    """The first seed from `seed` whose journey shows the rules (else `seed` itself)."""
    wanted = shows_the_rules(scenario, persona)
    for candidate in range(seed, seed + SEEDS_TRIED):
        trial = group(scenario, IdentityFactory(scenario, candidate), persona, at, candidate)
        reports = Walkthrough(scenario, RulesTarget(scenario), trial.identities).play(trial.participants)
        if reports and wanted(reports):
            return candidate
    return seed


def cast(scenario: Scenario, personas: list[str], at: float, seed: int) -> list[Group]:
    """The walkthrough's groups, in the order they are played."""
    identities = IdentityFactory(scenario, seed)  # one for all: nobody shares a phone number
    groups = []
    for persona in personas:
        if persona == "fraud_script":
            kinds = [k for k, there in (("virtual", scenario.antifraud.virtual_segments),
                                        ("blacklisted", scenario.antifraud.blacklist), ("clean", True)) if there]
            groups += [group(scenario, identities, persona, at, seed + i, number) for i, number in enumerate(kinds)]
        else:
            groups.append(group(scenario, identities, persona, at, pick_seed(scenario, persona, at, seed)))
    return groups
