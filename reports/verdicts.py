"""What a gate says: pass or fail, the figure against the limit, and the evidence for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class Evidence:
    """A time (campaign seconds, or None) and what was seen then."""

    t: float | None
    detail: str


@dataclass(frozen=True)
class Verdict:
    """One check of one gate, e.g. gate "peak", check "p95 open_envelope".

    `skip` means the run holds nothing to judge this check on (e.g. no bans happened, so no
    failover time); a skipped check neither passes nor fails the gate."""

    gate: str
    check: str
    status: Status
    figure: float | None
    limit: float | None
    unit: str
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    def as_dict(self) -> dict:
        return {"gate": self.gate, "check": self.check, "status": self.status, "figure": self.figure,
                "limit": self.limit, "unit": self.unit,
                "evidence": [{"t": e.t, "detail": e.detail} for e in self.evidence]}


def judged(gate: str, check: str, figure: float | None, limit: float | None, unit: str,
           ok: bool | None, evidence: list[Evidence] | tuple[Evidence, ...] = ()) -> Verdict:
    """A verdict: ok None means there was nothing to judge (skip)."""
    status: Status = "skip" if ok is None else ("pass" if ok else "fail")
    return Verdict(gate=gate, check=check, status=status, figure=figure, limit=limit, unit=unit,
                   evidence=tuple(evidence))
