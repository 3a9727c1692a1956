"""The `traffic` section: how many arrive, when (the arrival curve) and through which channel."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from rehearse.scenarios.base import Section, Share, Slug
from rehearse.scenarios.units import Seconds

MAX_PARTICIPANTS = 20_000_000
"""The simulator plays every participant at 1:1 (about 1.2 KiB each): 20 million take ~25 GiB."""


class Channel(Section):
    """An entry point; its links carry `channel_id` so each channel's users can be compared."""

    channel_id: Slug
    name: str
    share: Share


class Curve(Section):
    """Arrivals per second after launch: a decaying launch spike plus a daily cycle whose
    level decays over the campaign (the long tail). Amplitudes are solved so that the
    participant targets of the traffic section are met exactly."""

    spike_decay: Seconds = Field(gt=0, description="e-folding time of the launch spike")
    tail_half_life: Seconds = Field(gt=0, description="half-life of the daily level")
    daily_cycle: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=24, max_length=24)] = (
        Field(description="relative arrivals for each local hour 0..23")
    )

    @field_validator("daily_cycle")
    @classmethod
    def _some_traffic(cls, cycle: list[float]) -> list[float]:
        if sum(cycle) <= 0:
            raise ValueError("daily_cycle needs at least one hour with traffic")
        return cycle


class Window(Section):
    """A named stretch of campaign time, e.g. the launch hour (start is seconds from launch)."""

    start: Seconds
    duration: Seconds = Field(gt=0)


class Traffic(Section):
    participants_first_24h: Annotated[int, Field(ge=0, le=MAX_PARTICIPANTS)] = Field(
        default=0, description="participants in the first 24 h; leave out for a campaign live a day or less")
    participants_total: Annotated[int, Field(ge=1, le=MAX_PARTICIPANTS)]
    preheat_visitors: Annotated[int, Field(ge=0, le=MAX_PARTICIPANTS)] = Field(
        default=0, description="visitors during the preheat (0 or left out without one)")
    curve: Curve
    channels: Annotated[list[Channel], Field(min_length=1)]
    windows: dict[Slug, Window] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> "Traffic":
        if self.participants_first_24h > self.participants_total:
            raise ValueError(
                f"participants_first_24h ({self.participants_first_24h}) cannot exceed "
                f"participants_total ({self.participants_total})"
            )
        total = sum(c.share for c in self.channels)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"channel shares must add up to 1, they add up to {total:g}")
        ids = [c.channel_id for c in self.channels]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"channel_id values must be unique, repeated: {', '.join(dupes)}")
        return self

    def channel_ids(self) -> list[str]:
        return [c.channel_id for c in self.channels]
