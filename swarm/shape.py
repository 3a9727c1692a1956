"""A window of the campaign, scaled in population and compressed in time.

Wall second w of the run is campaign time `window.start + w * compress`; at a scale of 1:K the
run plays one participant in K (swarm/arrivals.py). Locust users are slots that take the
participants as they arrive, at most `max_slots` of them.

A step load (the peak at real concurrency) plays the window's participants in real time at
1:1, but paced by concurrency instead of by the clock: in each step the next participants of the
window start whenever fewer than that step's number are playing (spread over its first
seconds), so concurrency steps up with the scenario's own journeys, think times and mix.
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
    steps: tuple[int, ...] = ()  # a step load: participants to keep active in each step (else arrivals as due)
    step_s: float = 0.0  # wall seconds of each step

    def step_at(self, wall_s: float) -> int | None:
        """The step (0, 1, ...) at wall second `wall_s` of a step load, None otherwise."""
        if not self.steps:
            return None
        return min(len(self.steps) - 1, max(0, int(wall_s // self.step_s)))

    def campaign_t(self, wall_s: float) -> float:
        return self.window.start + wall_s * self.compress
