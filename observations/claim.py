"""One run, one folder: a run folder is claimed before anything starts, and held until the run ends.

A folder that already holds a run (or a part of one: run.json, parts/, a table file, or a phase
folder of the main job holding any of those) is refused, unless `force` asks for it to be
replaced; a folder holding anything else is never cleared. An exclusive lock (`.rehearse.lock`,
flock) taken before any check keeps two runs out of one folder even when they start together.

A command that starts the load processes itself (`rehearse swarm`) holds the claim; its children
write into the folder under it: a claim held by the claimer's parent process is handed down.

    with claimed(Path("runs/x"), force=False):
        ...write the run...
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from rehearse.observations import layout
from rehearse.observations.files import FORMATS
from rehearse.scenarios.errors import UsageError

LOCK = ".rehearse.lock"
_TABLES = ("requests", "gauges", "events")


class FolderInUse(UsageError):
    """The run folder holds another run, or another run is writing into it: choose another
    folder, or pass --force to replace a finished run."""


def run_files(folder: Path) -> list[Path]:
    """What in `folder` belongs to a run: run.json, parts/, table files (and a rehearsal's
    journal.json), at the top or in a phase folder one level down (the main job's simulated/,
    peak/, live/)."""
    found = []
    for where in (folder, *(p for p in _subfolders(folder))):
        for name in (layout.RUN_JSON, layout.PARTS, layout.JOURNAL, *(f"{t}.{f}" for t in _TABLES for f in FORMATS)):
            if (where / name).exists():
                found.append(where / name)
    return found


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def _entries(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.name not in (LOCK, layout.RESERVE)]
    except FileNotFoundError:
        return []


REPLACEABLE_SUFFIXES = (".json", ".parquet", ".csv", ".log", ".md", ".html", ".xml", ".png", ".svg",
                        ".tmp", ".sqlite3")


def _replaceable(entry: Path) -> bool:
    """What --force may remove: a run's own files, its private/ and report/ folders, phase
    folders holding a run; never anything else."""
    if entry.is_symlink():
        return False
    if entry.is_dir():
        return entry.name in (layout.PARTS, "private", "report") or bool(run_files(entry))
    return entry.name.endswith(REPLACEABLE_SUFFIXES)


def _holder(lock: Path) -> int | None:
    try:
        text = lock.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _lock(folder: Path) -> IO[str] | None:
    """The folder's lock, taken (None: another process holds it)."""
    handle = open(folder / LOCK, "a+", encoding="ascii")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return None
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _reserve(folder: Path) -> None:
    """Hold back a little space (see layout.RESERVE): a disk that fills mid-run then still has
    room to mark the run interrupted. A disk too full for it is no reason to refuse the run."""
    try:
        with open(folder / layout.RESERVE, "wb") as handle:
            handle.write(b"\0" * layout.RESERVE_BYTES)
    except OSError:
        layout.release_reserve(folder)


def check_unused(folder: Path, force: bool = False) -> None:
    """Refuse a folder that holds a run (unless `force`) or anything else; no lock is taken
    (for a check before a command starts; `claimed` checks again under the lock)."""
    folder = Path(folder)
    entries = _entries(folder)
    if not entries:
        return
    ours = run_files(folder)
    if ours and force:
        strangers = [e for e in entries if not _replaceable(e)]
        if strangers:
            raise FolderInUse(f"--out {folder}: --force replaces a run, but the folder also holds "
                              f"{strangers[0].name}, which no run wrote: choose a new folder")
        return
    if ours:
        raise FolderInUse(f"--out {folder}: the folder already holds a run ({ours[0].relative_to(folder)}); "
                          "a second run would mix its rows with the first's: choose a new folder, or pass "
                          "--force to replace that run")
    raise FolderInUse(f"--out {folder}: the folder is not empty ({len(entries)} entries, e.g. "
                      f"{entries[0].name}) and holds no run: choose a new or empty folder")


@contextmanager
def claimed(folder: Path, force: bool = False) -> Iterator[Path]:
    """Hold `folder` for one run: created if needed, locked, checked unused (with `force`, a
    run it held is removed first). A claim the parent process holds is handed down."""
    folder = Path(folder)
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    handle = _lock(folder)
    if handle is None:
        holder = _holder(folder / LOCK)
        if holder is not None and holder == os.getppid():
            yield folder  # the command that started this process claimed it for us
            return
        who = f" (process {holder})" if holder else ""
        raise FolderInUse(f"--out {folder}: another run{who} is writing into this folder; wait for it to "
                          "end, or choose another folder")
    try:
        check_unused(folder, force)
        if force:
            for entry in _entries(folder):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        _reserve(folder)
        yield folder
    finally:
        layout.release_reserve(folder)
        handle.close()  # the lock goes with the descriptor; the file stays (harmless, ignored)
        if made and not _entries(folder):  # refused, or nothing written: leave no empty folder behind
            (folder / LOCK).unlink(missing_ok=True)
            try:
                folder.rmdir()
            except OSError:
                pass
