"""Table files on disk: Parquet where pyarrow imports, CSV otherwise, always written atomically."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from rehearse.observations.layout import FORMATS, RUN_JSON, Format
from rehearse.observations.schema import ObservationError, Table

if TYPE_CHECKING:
    from rehearse.observations.schema import RunInfo

def default_format() -> Format:
    """Parquet when pyarrow can be imported, else CSV; checked on each call so tests can switch."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return "csv"
    return "parquet"


def resolve_format(fmt: str | None) -> Format:
    """The format asked for, or the default one when none is."""
    if fmt is None:
        return default_format()
    if fmt not in FORMATS:
        raise ObservationError(f"unknown table format {fmt!r}: use 'parquet' or 'csv'")
    return fmt


def write_text(path: Path, text: str) -> None:
    """Write a file whole or not at all (a reader never sees half of it)."""
    scratch = _scratch(path)
    try:
        scratch.write_text(text, encoding="utf-8")
        os.replace(scratch, path)
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise


def write_info(folder: Path, info: "RunInfo") -> None:
    """run.json, replaced whole; while the run is "running" it names its writer (this process),
    so a reader can tell a run still being written from one whose writer died."""
    if info.status == "running":
        info = info.model_copy(update={"writer_pid": os.getpid(), "writer_host": socket.gethostname()})
        dropped: set[str] = set()
    else:
        dropped = {"writer_pid", "writer_host"}  # a run that ended has no writer to check on
    write_text(Path(folder) / RUN_JSON, info.model_dump_json(indent=2, exclude=dropped) + "\n")


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write a table to `path` in the format its suffix names, whole or not at all."""
    scratch = _scratch(path)
    try:
        if path.suffix == ".parquet":
            frame.to_parquet(scratch, index=False)
        else:
            frame.to_csv(scratch, index=False)
        os.replace(scratch, path)
    except BaseException:
        scratch.unlink(missing_ok=True)  # a half-written scratch would hold the space a full disk lacks
        raise


def read_frame(path: Path, table: Table) -> pd.DataFrame:
    """Read one table file back with the table's columns and dtypes; a damaged file (cut short,
    empty, not a table) is a one-line error naming it."""
    try:
        return table.conform(_read(path, table), path)
    except ImportError as exc:
        raise ObservationError(
            f"{path} is Parquet but pyarrow cannot be imported ({exc}): pip install pyarrow"
        ) from None
    except (ValueError, TypeError, OSError) as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise ObservationError(
            f"{path}: cannot be read as the {table.name} table ({reason}); the file is damaged or "
            "cut short: run the rehearsal again into a fresh folder"
        ) from None


def _read(path: Path, table: Table) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    header = pd.read_csv(path, nrows=0).columns
    present = {c: d for c, d in table.columns.items() if c in header}
    missing_markers = {c: [""] for c, d in present.items() if d != "str"}
    return pd.read_csv(path, dtype=present, keep_default_na=False, na_values=missing_markers)


def _scratch(path: Path) -> Path:
    """A hidden sibling to write into before renaming; unique per process."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")
