"""A window of the campaign's arrival curve, scaled in population and compressed in time.

Wall second w of the run is campaign time `window.start + w * compress`. The number of
Locust users follows the arrival rate across the window, peaking at `peak_users`: each user
plays one participant after another, so concurrency tracks arrivals (Little's law).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rehearse.scenarios import Scenario
from rehearse.scenarios.curve import ArrivalCurve
from rehearse.scenarios.traffic import Window


@dataclass(frozen=True)
class Plan:
    """How a live run maps onto the campaign."""

    window_name: str
    window: Window
    compress: float  # campaign seconds per wall second
    scale: float  # real participants per simulated one
    peak_users: int
    duration_s: float  # wall seconds
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def campaign_t(self, wall_s: float) -> float:
        return self.window.start + wall_s * self.compress


def arrival_rate(scenario: Scenario, t: float, curve: ArrivalCurve | None = None) -> float:
    """Participants arriving per second at campaign time t (preheat visitors before launch)."""
    if t < 0:
        preheat_s = scenario.campaign.phases.preheat_s
        return scenario.traffic.preheat_visitors / preheat_s if -t <= preheat_s else 0.0
    return (curve or scenario.arrival_curve()).rate_at(t)


def users_at(scenario: Scenario, plan: Plan, wall_s: float, samples: int = 60) -> int:
    """Locust users wanted at wall second wall_s: the curve's rate relative to its window peak."""
    if "peak" not in plan._cache:  # the curve and the window's peak, worked out once per plan
        curve = scenario.arrival_curve()
        start, length = plan.window.start, plan.window.duration
        plan._cache["curve"] = curve
        plan._cache["peak"] = max(arrival_rate(scenario, start + length * i / samples, curve)
                                  for i in range(samples + 1))
    peak = plan._cache["peak"]
    if peak <= 0:
        return 0
    rate = arrival_rate(scenario, plan.campaign_t(wall_s), plan._cache["curve"])
    return max(1, math.ceil(plan.peak_users * rate / peak))
