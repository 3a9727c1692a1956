"""Amounts as the target writes them (fen, yuan strings, floats) read exactly into fen."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

def _exact(amount: Any) -> Decimal | None:
    """An amount read exactly (ints, floats as written, decimal strings); None if it is no finite number."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
        return None
    try:
        exact = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(str(amount).strip())
    except InvalidOperation:
        return None
    return exact if exact.is_finite() else None


def fen_or_none(amount: Any, factor: Decimal) -> int | None:
    """An amount in the mapping's unit as whole fen, rounded to the nearest fen, halves away
    from zero; None if it is not a number."""
    exact = _exact(amount)
    return None if exact is None else int((exact * factor).to_integral_value(rounding=ROUND_HALF_UP))


def fen_of(amount: Any, factor: Decimal) -> int:
    """A payout in the mapping's unit as whole fen (see fen_or_none); 0 if it is not a number:
    an answer that pays nothing readable paid nothing (and `rehearse target check` warns)."""
    return fen_or_none(amount, factor) or 0


def books_in_fen(key: str, value: Any, factor: Decimal) -> Any:
    """An operation's extracted value with its money in fen: a value named *_fen, and the *_fen
    figures of each entry of `pools`; what is not a number stays missing (None), never 0."""
    if key == "pools" and isinstance(value, dict):
        return {name: {k: fen_or_none(v, factor) if k.endswith("_fen") else v for k, v in pool.items()}
                if isinstance(pool, dict) else pool for name, pool in value.items()}
    return fen_or_none(value, factor) if key.endswith("_fen") else value
