"""The ready file `rehearse backend --ready-file PATH` writes once it listens: its URL and the
secrets a program that started it needs (the ops token, the TOTP secret for top-ups), for that
program to read instead of scraping the banner printed for people. The file is the owner's only
(0600) and written whole (a reader never sees half of it); the backend removes it when it stops
cleanly (a killed one leaves it: whoever starts the next backend at that path clears it first).
"""

from __future__ import annotations

import json
import os
import tempfile
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
        # a new file of a name nobody could plant (mkstemp: O_EXCL, 0600), then renamed over `path`
        fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(self.model_dump_json())
            os.replace(scratch, path)
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise

    def remove(self, path: Path) -> None:
        """Remove the ready file if it is still this backend's (not a newer one's at that path)."""
        try:
            if Ready.read(path) == self:
                path.unlink(missing_ok=True)
        except RehearseError:
            pass  # not a ready file any more: not this backend's to remove

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
