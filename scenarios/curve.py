"""The arrival curve as numbers: rate and cumulative share of participants at campaign time t.

The traffic section gives the shape (spike decay, daily cycle, tail half-life) and two targets
(participants in the first 24 h and in total). The two amplitudes are the solution of a 2x2
linear system, so both targets hold exactly; a shape that cannot meet them is an error. A
campaign live for a day or less (a 2-hour flash sale) has one target, its total: its first 24 h
are all of it, and the spike and the tail are split as the shape has them at launch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rehearse.scenarios.campaign import Phases
from rehearse.scenarios.traffic import Traffic

STEP_S = 60.0
DAY_S = 86400.0
MIN_LIVE_S = 600.0  # ten minutes: a flash sale's shortest


class InfeasibleCurve(ValueError):
    """The curve's shape cannot meet both participant targets."""


@dataclass(frozen=True)
class ArrivalCurve:
    """Arrival rate on a one-minute grid from launch to end, with its running integral."""

    grid_t: np.ndarray  # start of each step, campaign seconds
    rate: np.ndarray  # arrivals per second during each step
    cumulative: np.ndarray  # arrivals from launch to the end of each step
    total: float

    @classmethod
    def build(cls, traffic: Traffic, phases: Phases, first_24h: float | None = None,
              total: float | None = None) -> "ArrivalCurve":
        """The curve meeting the traffic section's targets (or the ones given: the simulator
        calibrates the organic part so that organic + invited + returning visitors meet them)."""
        live_s = phases.live_s
        if live_s < MIN_LIVE_S:
            raise InfeasibleCurve(f"the campaign is live for {live_s / 60:g} min; the arrival curve needs at least "
                                  f"{MIN_LIVE_S / 60:g} min between launch and end")
        steps = int(np.ceil(live_s / STEP_S))
        t = np.arange(steps, dtype=float) * STEP_S
        widths = np.minimum(STEP_S, live_s - t)
        mid = t + widths / 2
        spike = np.exp(-mid / traffic.curve.spike_decay)
        launch_hour = phases.launch.hour + phases.launch.minute / 60
        hour = ((launch_hour + mid / 3600.0) % 24).astype(int)
        cycle = np.asarray(traffic.curve.daily_cycle, dtype=float)
        cycle = cycle / cycle.mean()
        base = cycle[hour] * np.power(0.5, mid / traffic.curve.tail_half_life)
        total_target = traffic.participants_total if total is None else total
        if live_s <= DAY_S:  # the first 24 h are the whole campaign: one target, the shape's own split
            shape = spike + base * (1.0 / max(float(base[0]), 1e-12))  # spike and tail meet at launch
            rate = shape * (total_target / float((shape * widths).sum()))
            cumulative = np.cumsum(rate * widths)
            return cls(grid_t=t, rate=rate, cumulative=cumulative, total=float(cumulative[-1]))
        day_one = t < DAY_S
        system = np.array(
            [
                [(spike * widths)[day_one].sum(), (base * widths)[day_one].sum()],
                [(spike * widths).sum(), (base * widths).sum()],
            ]
        )
        day_one_target = traffic.participants_first_24h if first_24h is None else first_24h
        targets = np.array([day_one_target, total_target], dtype=float)
        try:
            a, b = np.linalg.solve(system, targets)
        except np.linalg.LinAlgError:
            raise InfeasibleCurve(f"the launch spike and the tail cannot be told apart over {live_s / 3600:g} h "
                                  "with this shape; lengthen the campaign, or shorten spike_decay") from None
        if a < -1e-9 or b < -1e-9:
            ratio = day_one_target / total_target
            raise InfeasibleCurve(
                f"no launch spike and tail fit {ratio:.0%} of participants on day one with "
                f"spike_decay {traffic.curve.spike_decay:g}s and tail_half_life "
                f"{traffic.curve.tail_half_life:g}s; "
                + ("shorten tail_half_life" if a < 0 else "lengthen tail_half_life or spike_decay")
            )
        rate = max(a, 0.0) * spike + max(b, 0.0) * base
        cumulative = np.cumsum(rate * widths)
        return cls(grid_t=t, rate=rate, cumulative=cumulative, total=float(cumulative[-1]))

    def rate_at(self, t: float) -> float:
        """Arrivals per second at campaign time t (zero outside the live campaign)."""
        if t < 0 or t >= self.grid_t[-1] + STEP_S:
            return 0.0
        return float(self.rate[int(t // STEP_S)])

    def arrived_by(self, t: float) -> float:
        """Expected participants arrived from launch until campaign time t."""
        if t <= 0:
            return 0.0
        i = int(t // STEP_S)
        if i >= len(self.grid_t):
            return self.total
        before = float(self.cumulative[i - 1]) if i > 0 else 0.0
        return before + float(self.rate[i]) * (t - self.grid_t[i])

    def share_by(self, t: float) -> float:
        """Share of all participants expected to have arrived by campaign time t."""
        return self.arrived_by(t) / self.total
