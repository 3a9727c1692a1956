"""The campaign's fund-loss plan: money paid against the plan, with a warning and a stop level.

Scenario knowledge, not any backend's: the reference backend runs it as its monitor, the simulator
as its risk control, and the gates judge "the alarm came before the budget share was gone" with it.


plan(t) = planned spend (default: the budget) x share of participants the arrival curve expects
by campaign time t, never less than `plan_floor_share` of the budget. ratio = paid / plan, both counted from the last
operator confirmation. At `warning_ratio` payouts are throttled; at `stop_ratio` they pause
until an operator confirms.
"""

from __future__ import annotations

from dataclasses import dataclass

from rehearse.scenarios.curve import ArrivalCurve
from rehearse.scenarios.safeguards import FundLoss

OK, WARNING, STOP = 0, 1, 2
LEVEL_NAMES = {OK: "ok", WARNING: "warning", STOP: "stop"}


@dataclass
class Reading:
    level: int
    ratio: float
    paid_fen: int
    plan_fen: float

    def as_dict(self) -> dict:
        return {"level": self.level, "level_name": LEVEL_NAMES[self.level],
                "ratio": round(self.ratio, 4), "paid_fen": self.paid_fen,
                "plan_fen": round(self.plan_fen)}


class FundLossMonitor:
    def __init__(self, rule: FundLoss, budget_fen: int, curve: ArrivalCurve) -> None:
        self.rule = rule
        self.budget_fen = budget_fen
        self.planned_fen = rule.planned_spend_fen or budget_fen
        self.curve = curve

    def plan_fen(self, t: float) -> float:
        return self.planned_fen * self.curve.share_by(t)

    def read(self, t: float, paid_fen: int, ack_paid_fen: int = 0, ack_plan_fen: float = 0.0) -> Reading:
        """The level at campaign time t given the money paid (and the last confirmation)."""
        floor = self.rule.plan_floor_share * self.budget_fen
        plan = max(self.plan_fen(t) - ack_plan_fen, floor)
        ratio = (paid_fen - ack_paid_fen) / plan
        if ratio >= self.rule.stop_ratio:
            level = STOP
        elif ratio >= self.rule.warning_ratio:
            level = WARNING
        else:
            level = OK
        return Reading(level=level, ratio=ratio, paid_fen=paid_fen, plan_fen=plan)
