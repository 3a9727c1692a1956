"""The sections about what can go wrong: links (bans), budget (funds), anti-fraud (scripts)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from rehearse.scenarios.base import MAX_FEN, Fen, Section, Share, Slug
from rehearse.scenarios.units import Seconds

Domain = Annotated[
    str, Field(max_length=253, pattern=r"^([a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
]
Phone = Annotated[str, Field(pattern=r"^1\d{10}$")]


class BanRule(Section):
    """The social platform bans a domain visited or shared more than this within the window."""

    window: Seconds = Field(gt=0)
    max_visits: Annotated[int, Field(ge=1)]
    max_shares: Annotated[int, Field(ge=1)]


class Failover(Section):
    """What the campaign promises when a domain is banned."""

    detection_delay: Seconds = Field(ge=0, description="time for operations to notice a ban")
    max_seconds: Seconds = Field(gt=0, description="ban to last new link on the banned domain")


class Links(Section):
    """Share links are spread over the primary domains; backups replace banned ones."""

    primary_domains: Annotated[list[Domain], Field(min_length=1)]
    backup_domains: list[Domain]
    ban_rule: BanRule
    failover: Failover

    @model_validator(mode="after")
    def _distinct(self) -> "Links":
        every = self.primary_domains + self.backup_domains
        dupes = sorted({d for d in every if every.count(d) > 1})
        if dupes:
            raise ValueError(f"each domain may appear once, repeated: {', '.join(dupes)}")
        return self


class FundLoss(Section):
    """Payouts against plan: above warning they are throttled, above stop they pause until an
    operator confirms. The plan at time t is the planned spend times the share of participants
    the arrival curve expects by t (never less than plan_floor_share of the budget)."""

    planned_spend_fen: Annotated[int | None, Field(ge=1, le=MAX_FEN)] = Field(
        default=None, description="what the campaign expects to pay out in all (null: the whole budget)")
    warning_ratio: Annotated[float, Field(gt=0)]
    stop_ratio: Annotated[float, Field(gt=0)]
    plan_floor_share: Annotated[float, Field(gt=0, le=1)] = 0.01
    throttle_pass_share: Share = 0.3
    confirm_delay: Seconds = Field(default=1800, ge=0,
                                   description="time for an operator to confirm after a stop (simulator)")

    @model_validator(mode="after")
    def _ordered(self) -> "FundLoss":
        if self.stop_ratio <= self.warning_ratio:
            raise ValueError(
                f"stop_ratio ({self.stop_ratio:g}) must be above warning_ratio "
                f"({self.warning_ratio:g})"
            )
        return self


class TopUp(Section):
    """An operator adds money to a pool at a campaign time (seconds from launch)."""

    at: Seconds = Field(ge=0)
    pool: Slug
    amount_fen: Annotated[int, Field(gt=0, le=MAX_FEN)]


class Budget(Section):
    """The money of each pool: one per institution, the grand round's and the invite reward's
    (only when the campaign has them)."""

    institutions_fen: dict[Slug, Fen]
    grand_round_fen: Fen | None = Field(default=None, description="needed with a grand round, else left out")
    invite_fen: Fen | None = Field(default=None, description="needed with an invite reward, else left out")
    fund_loss: FundLoss | None = Field(default=None, description="the fund-loss alarm: leave out for a "
                                       "campaign without one (a sale selling ahead of plan by nature)")
    topups: list[TopUp] = Field(default_factory=list, description="scheduled top-ups (simulator, drills)")

    @property
    def total_fen(self) -> int:
        return sum(self.institutions_fen.values()) + (self.grand_round_fen or 0) + (self.invite_fen or 0)


class RateLimit(Section):
    per_second: Annotated[float, Field(gt=0)]
    burst: Annotated[int, Field(ge=1)]


class RateLimits(Section):
    per_user: RateLimit
    per_ip: RateLimit


class Effectiveness(Section):
    """Share of fraud each check stops in the simulator (the live backend enforces for real)."""

    virtual_segments: Share = 0.95
    blacklist: Share = 1.0
    rate_limits: Share = 0.7
    signed_payouts: Share = 0.99


class Antifraud(Section):
    signed_payouts: bool = Field(
        default=False, description="payout calls must carry the signature the campaign page (or a "
        "share link's landing) hands out, so scripts that call the payout interface directly fail")
    virtual_segments: list[Annotated[str, Field(pattern=r"^1\d{2,3}$")]] = Field(
        default_factory=list, description="number segments refused at login (virtual operators)")
    blacklist: list[Phone] = Field(default_factory=list)
    rate_limits: RateLimits | None = Field(default=None, description="leave out where the backend has none")
    effectiveness: Effectiveness = Effectiveness()

    @field_validator("virtual_segments")
    @classmethod
    def _unique(cls, segments: list[str]) -> list[str]:
        return sorted(set(segments))

    def is_virtual(self, phone: str) -> bool:
        return any(phone.startswith(segment) for segment in self.virtual_segments)
