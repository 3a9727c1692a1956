"""The ready file `rehearse backend --ready-file PATH` writes once it listens: its URL and the
secrets a program that started it needs (the ops token, the TOTP secret for top-ups), for that
program to read instead of scraping the banner printed for people. The file is the owner's only
(0600) and written whole (a reader never sees half of it); the backend removes it when it stops.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rehearse.scenarios.errors import RehearseError


class Ready(BaseModel):
    """Where a started backend listens and how to operate it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    url: str = Field(pattern=r"^http://127\.0\.0\.1:\d+$")
    ops_token: str = Field(min_length=1)
    otp_secret: str = Field(min_length=1)
    pid: int

    def write(self, path: Path) -> None:
        scratch = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(self.model_dump_json())
        os.replace(scratch, path)

    @classmethod
    def read(cls, path: Path) -> "Ready | None":
        """The backend's ready file; None while it is not written yet."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return cls.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:
            raise RehearseError(f"{path}: not a ready file the reference backend wrote ({exc}); "
                                "delete it and start the backend again") from None
