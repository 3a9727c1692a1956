"""Reading a run folder back: consolidate writers' parts into one file per table, load a Run."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from rehearse.observations import layout
from rehearse.observations.files import Format, read_frame, resolve_format, write_frame
from rehearse.observations.schema import (HARNESS_PERSONAS, HARNESS_STOP, UNANSWERED, ObservationError, RunInfo,
                                          Table, tables)


@dataclass(frozen=True, eq=False)
class Run:
    """A run folder in memory: run.json and the three tables, each sorted by t."""

    info: RunInfo
    requests: pd.DataFrame
    gauges: pd.DataFrame
    events: pd.DataFrame
    rolled_up: bool

    def harness_stop_t(self) -> float | None:
        """When the harness began to stop before the run's end (a signal, its parent gone, a
        fault of its own), if it did: what it sent from then on is not the target's to answer."""
        stops = self.events.loc[self.events["kind"] == HARNESS_STOP, "t"]
        return float(stops.min()) if len(stops) else None

    def target_load(self) -> pd.DataFrame:
        """The requests the target is judged on for latency and errors: the scenario's own
        participants' (not the harness's probers and racers), answered (not cut by a stop),
        sent before the harness began to stop."""
        q = self.requests
        q = q[(q["error"] != UNANSWERED) & ~q["persona"].isin(HARNESS_PERSONAS)]
        stop = self.harness_stop_t()
        return q if stop is None else q[q["t"] < stop]


def read_info(folder: Path) -> RunInfo:
    """The run.json of `folder`, or a one-line error saying why the folder is not a run folder."""
    folder = Path(folder)
    path = folder / layout.RUN_JSON
    if not path.is_file():
        what = "run.json is missing" if folder.is_dir() else "no such folder"
        raise ObservationError(
            f"{folder} is not a run folder: {what} "
            "(point at the folder an engine wrote, holding run.json)"
        )
    try:
        info = RunInfo.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise ObservationError(f"{path} is not a valid run.json: {problems}") from None
    if info.status == "running" and _writer_gone(info):
        return info.model_copy(update={"status": "incomplete"})
    return info


def _writer_gone(info: RunInfo) -> bool:
    """Whether the process that was writing a "running" run is known to be gone (it died
    without closing the run). Only a writer on this machine can be checked."""
    if info.writer_pid is None or info.writer_host != socket.gethostname():
        return False
    try:
        os.kill(info.writer_pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    try:  # a zombie (exited, not yet reaped) is gone too
        stat = Path(f"/proc/{info.writer_pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def load_run(folder: Path) -> Run:
    """Read a run folder: its tables, parts included (a run killed before consolidating). A
    finished run holds a file for each table (its writer writes even an empty one): one that
    is missing is an error naming it, never an empty table."""
    folder = Path(folder)
    info = read_info(folder)
    if info.status == "finished":
        for table in tables(info.rolled_up):
            if not layout.table_files(folder, table.name) + layout.part_files(folder, table.name):
                raise ObservationError(
                    f"{layout.table_path(folder, table.name, resolve_format(None))} is missing: the run folder "
                    f"has no {table.name} table (was it deleted or moved?); restore it or judge another run"
                )
    requests, gauges, events = (_read_table(folder, table) for table in tables(info.rolled_up))
    return Run(info=info, requests=requests, gauges=gauges, events=events, rolled_up=info.rolled_up)


def save_run(folder: Path, info: RunInfo, requests: pd.DataFrame, gauges: pd.DataFrame,
             events: pd.DataFrame, fmt: Format | None = None, now=None) -> None:
    """Write a whole run at once (an engine that holds its tables in memory, like the simulator):
    the three tables, each checked against its columns (gauges left out are written empty),
    and run.json marked finished."""
    from rehearse.observations.files import write_text
    from rehearse.observations.schema import utc_now

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fmt = resolve_format(fmt)
    for table, frame in zip(tables(info.rolled_up), (requests, gauges, events)):
        write_frame(table.conform(frame, f"the {table.name} given"), layout.table_path(folder, table.name, fmt))
    done = info.model_copy(update={"status": "finished", "ended_at": (now or utc_now)()})
    write_text(folder / layout.RUN_JSON, done.model_dump_json(indent=2) + "\n")


def consolidate(folder: Path, fmt: Format | None = None) -> None:
    """Merge each table's parts into one file sorted by t (stable), remove the parts; repeatable."""
    folder = Path(folder)
    info = read_info(folder)
    fmt = resolve_format(fmt)
    for table in tables(info.rolled_up):
        target = layout.table_path(folder, table.name, fmt)
        sources = layout.table_files(folder, table.name) + layout.part_files(folder, table.name)
        if sources == [target]:
            continue
        write_frame(_read_table(folder, table), target)
        # Parts go only after the merged file is in place: a crash here duplicates, never loses.
        for source in sources:
            if source != target:
                source.unlink()
    parts = folder / layout.PARTS
    try:
        parts.rmdir()
    except OSError:
        pass  # absent, or a writer is still adding parts


def _read_table(folder: Path, table: Table) -> pd.DataFrame:
    """Every file of one table (consolidated first, then parts), as one frame sorted by t."""
    paths = layout.table_files(folder, table.name) + layout.part_files(folder, table.name)
    frames = [frame for frame in (read_frame(p, table) for p in paths) if len(frame)]
    if not frames:
        return table.empty()
    merged = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return merged.sort_values("t", kind="stable", ignore_index=True)
