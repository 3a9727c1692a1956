"""The whole scenario: one campaign, its traffic, personas, safeguards, backend and gates."""

from __future__ import annotations

import hashlib
import json

from pydantic import Field, ValidationInfo, field_validator, model_validator

from rehearse.scenarios.base import Section, Slug
from rehearse.scenarios.campaign import Campaign
from rehearse.scenarios.curve import ArrivalCurve, InfeasibleCurve
from rehearse.scenarios.drills import Drills, check_drills
from rehearse.scenarios.fund_loss import FundLossMonitor
from rehearse.scenarios.limits import BackendModel, Gates
from rehearse.scenarios.people import Personas
from rehearse.scenarios.safeguards import Antifraud, Budget, Links
from rehearse.scenarios.target import Target
from rehearse.scenarios.traffic import Traffic


class Scenario(Section):
    """A campaign to rehearse. Load one with `rehearse.scenarios.load_scenario(path)`."""

    name: Slug
    description: str = ""
    seed: int = Field(default=20261220, ge=0, le=2**32 - 1, description="default seed for every random choice")
    campaign: Campaign
    traffic: Traffic
    personas: Personas
    links: Links
    budget: Budget
    antifraud: Antifraud
    backend_model: BackendModel
    target: Target
    gates: Gates
    drills: Drills = Field(default_factory=dict, description="incident drills (rehearse drill)")

    @field_validator("drills")
    @classmethod
    def _drills_refer_to_the_scenario(cls, drills: Drills, info: ValidationInfo) -> Drills:
        if drills and all(k in info.data for k in ("traffic", "links", "budget", "campaign")):
            check_drills(drills, info.data)
        return drills

    @model_validator(mode="after")
    def _cross_checks(self) -> "Scenario":
        institution_ids = {i.id for i in self.campaign.institutions}
        budgeted = set(self.budget.institutions_fen)
        if institution_ids != budgeted:
            missing = sorted(institution_ids - budgeted)
            unknown = sorted(budgeted - institution_ids)
            parts = []
            if missing:
                parts.append(f"add a budget for {', '.join(missing)}")
            if unknown:
                parts.append(f"remove {', '.join(unknown)} (no such institution)")
            raise ValueError(f"budget.institutions_fen must name each institution: {'; '.join(parts)}")
        pools = list(self.pool_budgets())
        for n, topup in enumerate(self.budget.topups):
            if topup.pool not in pools:
                raise ValueError(f"budget.topups.{n}.pool {topup.pool!r} is not a pool; use one of "
                                 f"{', '.join(pools)}")
        if self.gates.peak.window not in self.traffic.windows:
            known = ", ".join(sorted(self.traffic.windows)) or "none defined"
            raise ValueError(
                f"gates.peak.window {self.gates.peak.window!r} is not in traffic.windows "
                f"(known: {known})"
            )
        try:
            ArrivalCurve.build(self.traffic, self.campaign.phases)
        except InfeasibleCurve as exc:
            raise ValueError(f"traffic.curve: {exc}") from None
        return self

    def pool_budgets(self) -> dict[str, int]:
        """Every budget pool and its money (fen), in campaign order: the institutions, then the
        grand round and the invite reward. Pool numbers in the simulator are positions here."""
        budget = self.budget
        pools = {i.id: budget.institutions_fen[i.id] for i in self.campaign.institutions}
        return {**pools, "grand": budget.grand_round_fen, "invite": budget.invite_fen}

    def arrival_curve(self) -> ArrivalCurve:
        """The arrival rate and cumulative share over campaign time."""
        return ArrivalCurve.build(self.traffic, self.campaign.phases)

    def fund_loss_plan(self) -> FundLossMonitor:
        """The fund-loss plan over the whole budget (see `rehearse.scenarios.fund_loss`)."""
        return FundLossMonitor(self.budget.fund_loss, self.budget.total_fen, self.arrival_curve())

    def digest(self) -> str:
        """A short hash of the scenario's content, recorded in every run folder."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

