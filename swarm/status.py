"""What a running swarm says of itself, each second, to the command that started it: the one
typed shape the load process writes (RUN/progress.json, replaced whole) and the command reads for
its progress bar and the rehearsal's `SwarmProgress` events. A figure not known is None."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from rehearse.observations.files import write_text

STATUS_FILE = "progress.json"


class SwarmStatus(BaseModel):
    """How far a swarm run has played and what it is doing now."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    elapsed_s: float
    duration_s: float
    requests: int  # in all so far (Locust's count)
    failures: int
    active_users: int  # participants playing now
    rps: float  # requests in the last second
    paid_fen: int | None = None  # the target's own books, where it has a ledger (shown, never judged)

    @classmethod
    def of(cls, row: dict[str, Any], elapsed_s: float, duration_s: float, requests: int, failures: int) -> "SwarmStatus":
        """From the second's gauges row (swarm/runtime.py `sample`)."""
        paid = row.get("paid_fen")  # the target's answer: shown only when it is a number
        if isinstance(paid, bool) or not isinstance(paid, (int, float)) or not math.isfinite(paid):
            paid = None
        return cls(elapsed_s=elapsed_s, duration_s=duration_s, requests=requests, failures=failures,
                   active_users=int(row["active_users"]), rps=float(row["rps"]),
                   paid_fen=None if paid is None else int(paid))

    def write(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text(run_dir / STATUS_FILE, self.model_dump_json())

    @classmethod
    def read(cls, run_dir: Path) -> "SwarmStatus | None":
        """The latest progress, or None while there is none (not written yet, or not readable)."""
        try:
            return cls.model_validate(json.loads((run_dir / STATUS_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError, ValidationError):
            return None
