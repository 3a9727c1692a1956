"""A window of the campaign, scaled in population and compressed in time.

Wall second w of the run is campaign time `window.start + w * compress`; at a scale of 1:K the
run plays one participant in K (swarm/arrivals.py). Locust users are slots that take the
participants as they arrive, at most `max_slots` of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from rehearse.scenarios.traffic import Window


@dataclass(frozen=True)
class Plan:
    """How a live run maps onto the campaign."""

    window_name: str
    window: Window
    compress: float  # campaign seconds per wall second
    scale: float  # real participants per simulated one
    max_slots: int  # Locust users the run may hold at most
    duration_s: float  # wall seconds

    def campaign_t(self, wall_s: float) -> float:
        return self.window.start + wall_s * self.compress
