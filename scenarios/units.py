"""Value types shared by the scenario sections: durations written as "90s", "5m", "2h", "7d"."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as "45s", "1.5h", "7d" (a bare number is seconds).

    >>> parse_duration("2h")
    7200.0
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 5m, 2h or 7d, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            number, unit = match.groups()
            return float(number) * _UNITS[unit or "s"]
    raise ValueError(f"expected a duration such as 30s, 5m, 2h or 7d, got {value!r}")


Seconds = Annotated[float, BeforeValidator(parse_duration)]
