"""Key figures against a baseline's: the change in each, and which changes count as regressions.

Rules (a figure not named here is reported but never flagged; paid is not a regression):
- `p95_ms.<action>`: up more than 10 % of the baseline;
- `error_rate`: up more than 10 % of the baseline and more than 0.1 percentage points;
- `fraud_share`: up more than 10 % of the baseline.
A rise from a baseline of exactly 0 counts as more than 10 %.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

RELATIVE_LIMIT = 0.10
ERROR_RATE_POINTS = 0.001  # 0.1 percentage points, as a share


@dataclass(frozen=True)
class Delta:
    """One figure now and in the baseline; relative is None when the baseline is 0 or missing."""

    figure: str
    current: float | None
    baseline: float | None
    delta: float | None
    relative: float | None
    regressed: bool

    def as_dict(self) -> dict:
        return asdict(self)


def flatten(figures: dict) -> dict[str, float | None]:
    """Nested key figures spelled out: {"p95_ms": {"login": 9.0}} -> {"p95_ms.login": 9.0}; a
    figure that is no finite number (NaN, inf) is missing, never a delta or a regression."""
    flat: dict[str, float | None] = {}
    for name, value in figures.items():
        if isinstance(value, dict):
            flat.update({f"{name}.{k}": v for k, v in flatten(value).items()})
        elif value is None or isinstance(value, (int, float)):
            flat[name] = value if value is None or math.isfinite(value) else None
    return flat


def compare(current: dict, baseline: dict) -> list[Delta]:
    """A Delta per figure in either set of key figures, in the current figures' order."""
    now, then = flatten(current), flatten(baseline)
    names = list(now) + [n for n in then if n not in now]
    return [_delta(name, now.get(name), then.get(name)) for name in names]


def regressions(deltas: list[Delta]) -> list[Delta]:
    """The deltas flagged as regressions."""
    return [d for d in deltas if d.regressed]


def _delta(name: str, now: float | None, then: float | None) -> Delta:
    if now is None or then is None:
        return Delta(name, now, then, None, None, False)
    change = now - then
    relative = change / then if then else None
    rose = change > 0 and (relative is None or relative > RELATIVE_LIMIT)
    if name.startswith("p95_ms.") or name == "fraud_share":
        regressed = rose
    elif name == "error_rate":
        regressed = rose and change > ERROR_RATE_POINTS
    else:
        regressed = False
    return Delta(name, now, then, change, relative, regressed)
