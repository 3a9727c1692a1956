"""The `backend_model` (the simulator's backend) and `gates` (the launch criteria) sections."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from rehearse.scenarios.base import Section, Share, Slug
from rehearse.scenarios.traffic import MAX_PARTICIPANTS
from rehearse.scenarios.target import ActionName
from rehearse.scenarios.units import Seconds


class ActionCapacity(Section):
    service_time: Seconds = Field(gt=0, description="mean time one request holds a worker")
    concurrency: Annotated[int, Field(ge=1, le=1_000_000)]


class BackendModel(Section):
    """What the simulator assumes of the backend: a queue per action, and a timeout."""

    timeout: Seconds = Field(gt=0)
    actions: dict[ActionName, ActionCapacity]


class PeakGate(Section):
    """In the peak window the target active users were served within the SLOs."""

    window: Slug
    target_active_users: Annotated[int, Field(ge=1, le=MAX_PARTICIPANTS)]
    p95: dict[str, Seconds] = Field(description="p95 latency per action; key 'default' for others")
    error_rate_max: Share

    def p95_for(self, action: str) -> float | None:
        return self.p95.get(action, self.p95.get("default"))


class FailoverGate(Section):
    max_seconds: Seconds = Field(gt=0)
    max_lost_visits_share: Share = 0.05
    pool_never_empty: bool = True


class PayoutGate(Section):
    fraud_share_max: Share
    alarm_before_budget_share: Share


class RulesGate(Section):
    enabled: bool = True


class Gates(Section):
    peak: PeakGate
    failover: FailoverGate
    payout: PayoutGate
    rules: RulesGate = RulesGate()
