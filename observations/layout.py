"""Where things live in a run folder: run.json, one file per table, and writers' part files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

Format = Literal["parquet", "csv"]
"""How a table is stored (observations/files.py reads and writes both)."""
FORMATS: tuple[Format, ...] = ("parquet", "csv")

RUN_JSON = "run.json"
PARTS = "parts"
JOURNAL = "journal.json"
"""A rehearsal's record of its phases (rehearsal/journal.py), at the top of the main job's folder."""
SWARM_SPEC = "swarm.json"
"""A swarm run's settings as its load processes read them (swarm/settings.py `write_spec`)."""
RESERVE = ".rehearse.reserve"
"""Space a claimed run folder holds back (observations/claim.py): freed when a write fails (a disk
full), so the run can still be marked interrupted and say where its rows are."""
RESERVE_BYTES = 256 * 1024


def release_reserve(folder: Path) -> None:
    """Give back the folder's reserved space (a write failed, or the run is over)."""
    (folder / RESERVE).unlink(missing_ok=True)

WRITER_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")
_PART = re.compile(r"^(?P<table>[a-z]+)-(?P<writer>.+)-(?P<seq>\d+)\.(?P<ext>parquet|csv)$")


def table_path(folder: Path, table: str, fmt: Format) -> Path:
    """The consolidated file of a table: requests.parquet, gauges.csv, ..."""
    return folder / f"{table}.{fmt}"


def part_path(folder: Path, table: str, writer_id: str, seq: int, fmt: Format) -> Path:
    """The seq-th part file of a table written by one writer."""
    return folder / PARTS / f"{table}-{writer_id}-{seq:06d}.{fmt}"


def table_files(folder: Path, table: str) -> list[Path]:
    """The existing consolidated files of a table (either format)."""
    return [p for p in (table_path(folder, table, fmt) for fmt in FORMATS) if p.is_file()]


def part_files(folder: Path, table: str, writer_id: str | None = None) -> list[Path]:
    """A table's part files, ordered by writer then sequence (optionally one writer's only)."""
    found = []
    parts = folder / PARTS
    if not parts.is_dir():
        return []
    for path in parts.iterdir():
        match = _PART.match(path.name)
        if match and match["table"] == table and writer_id in (None, match["writer"]):
            found.append((match["writer"], int(match["seq"]), path))
    return [path for _, _, path in sorted(found)]
