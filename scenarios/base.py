"""The base every scenario section shares: unknown fields are errors, values are immutable."""

from __future__ import annotations

import random
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_FEN = 10**15
"""Money is at most 10 trillion yuan: sums of it stay inside a 64-bit integer."""
Fen = Annotated[int, Field(ge=0, le=MAX_FEN, description="money in integer fen (1 yuan = 100 fen)")]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=64)]


class FieldError(ValueError):
    """A check that fails at a field of its own choosing (a header's name inside target.headers, a
    body value deep in a request): `loc` is that field's path from the scenario's top, which the
    loader turns into the field and its line; the message says what is wrong and the fix."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class Section(BaseModel):
    """A part of a scenario: strict (unknown fields are errors) and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class UniformAmount(Section):
    """Every amount between min_fen and max_fen equally likely."""

    kind: Literal["uniform"]
    min_fen: Fen
    max_fen: Fen

    @model_validator(mode="after")
    def _ordered(self) -> "UniformAmount":
        if self.max_fen < self.min_fen:
            raise ValueError(f"max_fen ({self.max_fen}) must not be below min_fen ({self.min_fen})")
        return self

    @property
    def mean_fen(self) -> float:
        return (self.min_fen + self.max_fen) / 2

    @property
    def max_possible_fen(self) -> int:
        return self.max_fen

    @property
    def min_possible_fen(self) -> int:
        return self.min_fen

    def sample(self, rng: random.Random) -> int:
        return rng.randint(self.min_fen, self.max_fen)


class WeightedChoice(Section):
    amount_fen: Fen
    weight: Annotated[float, Field(gt=0)]


class WeightedAmount(Section):
    """A fixed set of amounts, each drawn with its weight."""

    kind: Literal["weighted"]
    choices: Annotated[list[WeightedChoice], Field(min_length=1)]

    @property
    def mean_fen(self) -> float:
        total = sum(c.weight for c in self.choices)
        return sum(c.amount_fen * c.weight for c in self.choices) / total

    @property
    def max_possible_fen(self) -> int:
        return max(c.amount_fen for c in self.choices)

    @property
    def min_possible_fen(self) -> int:
        return min(c.amount_fen for c in self.choices)

    def sample(self, rng: random.Random) -> int:
        weights = [c.weight for c in self.choices]
        return rng.choices(self.choices, weights=weights)[0].amount_fen


Amount = Annotated[Union[UniformAmount, WeightedAmount], Field(discriminator="kind")]
