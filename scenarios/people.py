"""The `personas` section: the mix of user archetypes and each one's parameters."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from rehearse.scenarios.base import Section, Share
from rehearse.scenarios.units import Seconds

PERSONA_NAMES = ("normal", "sharer", "fraud_script", "preheat_browser")


class ThinkTime(Section):
    """Human pauses between steps: lognormal with this median and spread."""

    median: Seconds = Field(gt=0)
    sigma: Annotated[float, Field(ge=0)] = 0.8


class Funnel(Section):
    """Probability that a user who reached a step goes on to the next one."""

    login: Share = 0.85
    start_tasks: Share = 0.8
    next_institution: Share = 0.85
    follow: Share = 0.5
    grand_draw: Share = 0.95


class Mix(Section):
    """Share of participants (accounts) of each persona; must add up to 1 (preheat_browser only
    with a preheat)."""

    normal: Share
    sharer: Share = 0.0
    fraud_script: Share = 0.0
    preheat_browser: Share = 0.0

    @model_validator(mode="after")
    def _adds_up(self) -> "Mix":
        total = self.normal + self.sharer + self.fraud_script + self.preheat_browser
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"persona shares must add up to 1, they add up to {total:g}")
        return self

    def weights(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in PERSONA_NAMES}


def _double_tap() -> Any:
    return Field(default=0.0, description="share of envelope opens and draws a person taps twice "
                 "at once (a slow page, an impatient thumb): two requests race")


class NormalPersona(Section):
    think_time: ThinkTime = ThinkTime(median=8)
    funnel: Funnel = Funnel()
    double_tap: Share = _double_tap()


class SharerPersona(Section):
    think_time: ThinkTime = ThinkTime(median=6)
    funnel: Funnel = Funnel(login=0.95, start_tasks=0.95, next_institution=0.95)
    double_tap: Share = _double_tap()
    shares_mean: Annotated[float, Field(ge=0, le=1000)] = 3.0
    invitees_per_share_mean: Annotated[float, Field(ge=0, le=100)] = 0.8
    invitee_delay: ThinkTime = ThinkTime(median=1800, sigma=1.2)
    interest_half_life: Seconds = Field(default=2 * 86400, gt=0)
    audience: Annotated[int | None, Field(ge=1, le=10**9)] = Field(
        default=None, description="people sharers can reach; invitations thin out as it fills "
        "(null: ten times traffic.participants_total)")


class FraudScriptPersona(Section):
    accounts_per_operator: Annotated[int, Field(ge=1, le=100_000)] = 20
    virtual_number_share: Share = 0.4
    ips_per_operator: Annotated[int, Field(ge=1, le=100_000)] = 4
    devices_per_operator: Annotated[int, Field(ge=1, le=100_000)] = 3
    request_interval: Seconds = Field(default=0.2, ge=0)
    retries_on_refusal: Annotated[int, Field(ge=0, le=100)] = 3
    invite_ring: bool = True
    blacklisted_share: Share = Field(
        default=0.1, description="accounts already on the blacklist from earlier campaigns")
    burst: Annotated[int, Field(ge=1, le=20)] = Field(
        default=1, description="copies of each payout call fired at once, to race the interface")


class PreheatBrowserPersona(Section):
    think_time: ThinkTime = ThinkTime(median=15)
    visits_mean: Annotated[float, Field(ge=1, le=1000)] = 1.5
    return_at_launch: Share = 0.4
    tries_early: Share = Field(default=0.0, description="share who try to log in during the preheat "
                               "(the backend must refuse: taking part opens at launch)")
    return_delay: ThinkTime = Field(default=ThinkTime(median=600, sigma=1.0),
                                    description="how long after launch a returning browser comes back")


class Personas(Section):
    mix: Mix
    normal: NormalPersona = NormalPersona()
    sharer: SharerPersona = SharerPersona()
    fraud_script: FraudScriptPersona = FraudScriptPersona()
    preheat_browser: PreheatBrowserPersona = PreheatBrowserPersona()
