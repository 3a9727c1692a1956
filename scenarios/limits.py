"""The `backend_model` (the simulator's backend) and `gates` (the launch criteria) sections."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from rehearse.scenarios.base import Section, Share, Slug
from rehearse.scenarios.traffic import MAX_PARTICIPANTS
from rehearse.scenarios.target import ActionName
from rehearse.scenarios.units import Seconds


GATE_NAMES = ("peak", "failover", "payout", "rules", "load")
# Every check the gates judge, by gate: what `gates.required` and a drill's steady state name
# one by one (`gate.check`), besides a whole gate.
CHECKS = {
    "peak": ("active_users", "p95", "error_rate"),
    "failover": ("links_off", "visits_lost", "pool_never_empty"),
    "payout": ("never_overdrawn", "no_pool_overdrawn", "paid_once", "within_rules", "books_match",
               "fraud_share", "alarm_before_budget"),
    "rules": ("preheat_closed", "envelopes_locked", "share_cap", "flagged_numbers_refused"),
    "load": ("matches_scenario",),
}
CHECK_KEYS = tuple(GATE_NAMES) + tuple(f"{g}.{c}" for g, checks in CHECKS.items() for c in checks)
# The checks that answer the brief's three launch risks: peak, link-ban failover, payout budget.
# The peak checks are verified only where they are measured at the peak's concurrency: the main
# job's step load (a live run at 1:1 in real time); a pass at 1:100 proves nothing, a fail does.
LAUNCH_RISKS = ["peak.active_users", "peak.p95", "peak.error_rate",
                "failover.links_off", "failover.visits_lost", "failover.pool_never_empty",
                "payout.never_overdrawn", "payout.no_pool_overdrawn", "payout.paid_once", "payout.within_rules"]


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
    p95: dict[str, Annotated[Seconds, Field(gt=0)]] = Field(
        description="p95 latency per action, above 0 (no answer takes 0 s); key 'default' for others")
    error_rate_max: Share

    def p95_for(self, action: str) -> float | None:
        return self.p95.get(action, self.p95.get("default"))


class FailoverGate(Section):
    max_seconds: Seconds = Field(gt=0)
    max_lost_visits_share: Share = 0.05
    pool_never_empty: bool = True


class PayoutGate(Section):
    fraud_share_max: Share
    alarm_before_budget_share: Share | None = Field(
        default=None, description="needed with a fund-loss alarm (budget.fund_loss), else left out")


class RulesGate(Section):
    enabled: bool = True


class LoadGate(Section):
    """A live run's load against the simulator's for the same minutes (judging/agreement.py)."""

    tolerance: Share = Field(default=0.10, description="largest relative difference of a figure that still agrees "
                                                       "(small counts get their Poisson noise band instead)")


class Gates(Section):
    peak: PeakGate
    failover: FailoverGate | None = Field(default=None, description="needed with share links (links:), else "
                                                                     "left out")
    payout: PayoutGate
    rules: RulesGate = RulesGate()
    load: LoadGate = LoadGate()
    required: list[Literal[CHECK_KEYS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(LAUNCH_RISKS),
        description="checks a run against the target must verify (a gate name, or gate.check): "
                    "one not verified (and none failed) makes the rehearsal INCONCLUSIVE")
    advisory: list[Literal[CHECK_KEYS]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="checks judged and shown, never failing the rehearsal")
    off: list[Literal[CHECK_KEYS]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="checks not judged at all (shown as off)")

    @model_validator(mode="after")
    def _one_setting_per_check(self) -> "Gates":
        """A check is required, advisory or off, not two of them (a gate required with one of its
        checks advisory or off is fine: the check's own setting wins)."""
        lists = {"required": self.required, "advisory": self.advisory, "off": self.off}
        written = "required" in self.model_fields_set  # the default list gives way to a gate's setting
        for a, b in (("required", "advisory"), ("required", "off"), ("advisory", "off")):
            both = [k for k in lists[a] if k in lists[b]]
            if a == "required" and written:  # a required check of a gate made advisory or off
                both += [k for k in lists[a] if "." in k and k.split(".")[0] in lists[b]]
            if both:
                raise ValueError(f"gates.{b}: {', '.join(sorted(set(both)))} is also in gates.{a}; give each check "
                                 "one setting (required, advisory or off)")
        return self

    def setting(self, key: str) -> str:
        """How the scenario asks for the check `gate.slug`: off, advisory, required or judged
        (the default: a failure fails the rehearsal, not verified does not). A check's own key wins
        over its gate's name."""
        gate = key.split(".")[0]
        for name in ("off", "advisory"):
            if key in getattr(self, name):
                return name
        for name in ("off", "advisory"):  # a gate's setting wins over the default required list
            if gate in getattr(self, name):
                return name
        return "required" if key in self.required or gate in self.required else "judged"
