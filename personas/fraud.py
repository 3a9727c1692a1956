"""The `fraud_script`: one account of a fraud operator, driven by a script ("wool puller").

It never loads the page: it logs in (joining its operator's invite ring), then probes every
payout action directly, every `request_interval`, doing the tasks only when the payout is
refused, and retrying refusals a fixed number of times. Every loop is bounded. Payout calls
carry `burst`: the script fires that many copies at once, racing the interface (an engine
that can send in parallel does; the others send one).
"""

from __future__ import annotations

import random

from rehearse.personas.human import Steps
from rehearse.personas.identity import Identity
from rehearse.personas.steps import Act, Journey, Wait
from rehearse.scenarios import Scenario
from rehearse.scenarios.campaign import Institution


def login(user: Identity, scenario: Scenario) -> Steps:
    """Log in, with the code of the operator's last account when the ring is on; retry a
    refusal (virtual segment, blacklist) `retries_on_refusal` times. Whether it got in."""
    settings = scenario.personas.fraud_script
    operator = user.operator
    ring = operator.ring_codes if operator is not None and settings.invite_ring else []
    code = ring[-1] if ring else None
    for attempt in range(1 + settings.retries_on_refusal):
        if attempt:
            yield Wait(settings.request_interval)
        outcome = yield Act("login", invite_code=code)
        if outcome.ok:
            own_code = outcome.data.get("invite_code")
            if operator is not None and own_code:
                operator.ring_codes.append(own_code)
            return True
    return False


def hammer(scenario: Scenario, act: Act) -> Steps:
    """Call a payout action; retry refusals and errors `retries_on_refusal` times, fast."""
    settings = scenario.personas.fraud_script
    for attempt in range(1 + settings.retries_on_refusal):
        if attempt:
            yield Wait(settings.request_interval)
        if (yield act).ok:
            return True
    return False


def raid(scenario: Scenario, institution: Institution) -> Steps:
    """Probe the institution's envelope; if refused (locked), do the tasks and hammer it."""
    settings = scenario.personas.fraud_script
    envelope = Act("open_envelope", institution=institution.id, burst=settings.burst)
    if (yield envelope).ok:
        return True
    for task in institution.tasks:
        yield Wait(settings.request_interval)
        yield Act("complete_task", institution=institution.id, task=task.id)
    yield Wait(settings.request_interval)
    return (yield from hammer(scenario, envelope))


def fraud_script(user: Identity, scenario: Scenario, rng: random.Random) -> Journey:
    """A scripted account: login, every envelope, the grand draw, the invite envelope (those the
    campaign has)."""
    interval = Wait(scenario.personas.fraud_script.request_interval)
    if not (yield from login(user, scenario)):
        return
    for institution in scenario.campaign.institutions:
        yield interval
        yield from raid(scenario, institution)
    campaign, burst = scenario.campaign, scenario.personas.fraud_script.burst
    if campaign.follow_required:
        yield interval
        yield Act("follow")
    if campaign.grand_round is not None:
        yield interval
        yield from hammer(scenario, Act("grand_draw", burst=burst))
    if campaign.invite is not None:
        yield interval
        yield from hammer(scenario, Act("open_invite_envelope", burst=burst))
