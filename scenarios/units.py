"""Value types shared by the scenario sections: durations written as "90s", "5m", "2h", "7d"."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_DURATION_S = 10 * 365 * 86400.0
"""Ten years: no duration a campaign or a rehearsal needs is longer."""
_DURATION = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as "45s", "1.5h", "7d" (a bare number is seconds).

    >>> parse_duration("2h")
    7200.0
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 5m, 2h or 7d, got {value!r}")
    seconds: float | None = None
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            number, unit = match.groups()
            seconds = float(number) * _UNITS[unit or "s"]
    if seconds is None:
        raise ValueError(f"expected a duration such as 30s, 5m, 2h or 7d, got {value!r}")
    if not math.isfinite(seconds) or abs(seconds) > MAX_DURATION_S:
        raise ValueError(f"duration {value!r} is out of range: at most 10 years (3650d)")
    return seconds


Seconds = Annotated[float, BeforeValidator(parse_duration)]
