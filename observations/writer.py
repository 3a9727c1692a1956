"""RunWriter: an engine's rows appended to column lists, written to a run folder in part files.

    with RunWriter(folder, RunInfo.start(scenario, engine="simulator")) as out:
        out.request(t=0.5, engine="simulator", persona="normal", user_id="u1", action="open_page",
                    channel="wechat", domain="a.example", status=200, ok=True, refused=False,
                    latency_ms=41.0, payout_fen=0, error="")
        out.gauge(t=60.0, active_users=1200, rps=35.5)
    consolidate(folder)
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Literal

from rehearse.observations import layout
from rehearse.observations.files import Format, resolve_format, write_frame, write_info
from rehearse.observations.schema import EVENTS, GAUGES, ObservationError, RunInfo, Table, tables, utc_now


class _Buffer:
    """One table's rows not yet on disk: one tuple per row (a single append, cheap under load),
    turned into columns only when written."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.names = table.columns.keys()
        self.width = len(table.columns)
        self.data: list[tuple[Any, ...]] = []
        self.parts = 0

    @property
    def rows(self) -> int:
        return len(self.data)

    def add(self, values: tuple[Any, ...]) -> None:
        self.data.append(values)

    def take(self) -> dict[str, list[Any]]:
        """The buffered rows as columns, leaving the buffer empty."""
        data, self.data = self.data, []
        columns = list(zip(*data)) if data else [()] * self.width
        return {name: list(column) for name, column in zip(self.table.columns, columns)}

    def put_back(self, taken: dict[str, list[Any]]) -> None:
        """Rows that could not be written go back in front of any added since."""
        self.data = list(zip(*taken.values())) + self.data


class RunWriter:
    """Writes one engine's (or one worker's) observations into a run folder.

    Rows go to column lists and reach `folder/parts/` as a part file named for `writer_id`
    whenever a table holds `flush_rows` rows, and on flush() and close(), so several processes
    can write into one folder and an interrupted run keeps what it measured. With `info`,
    run.json is written at once ("running") and again on close; workers that share a folder
    with a main writer pass `info=None`. Not thread-safe: one writer per process or thread.
    """

    def __init__(self, folder: Path, info: RunInfo | None, writer_id: str = "main",
                 flush_rows: int = 50_000, *, fmt: Format | None = None,
                 now: Callable[[], datetime] = utc_now) -> None:
        if not layout.WRITER_ID.match(writer_id):
            raise ObservationError(
                f"writer_id {writer_id!r} cannot name part files: "
                "use up to 64 letters, digits, '_', '.' and '-'"
            )
        if flush_rows < 1:
            raise ObservationError(f"flush_rows must be at least 1, got {flush_rows}")
        self.folder = Path(folder)
        self.writer_id = writer_id
        self._flush_rows = flush_rows
        self._fmt = resolve_format(fmt)
        self._now = now
        self._info = info
        self._closed = False
        self.failure: ObservationError | None = None  # the last write that failed (a disk full, ...)
        requests_table = tables(info is not None and info.rolled_up)[0]
        self._requests = _Buffer(requests_table)
        self._gauges = _Buffer(GAUGES)
        self._events = _Buffer(EVENTS)
        self._refuse_clash()
        (self.folder / layout.PARTS).mkdir(parents=True, exist_ok=True)
        if info is not None:
            self._write_info(info.model_copy(update={"status": "running", "ended_at": None}))

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close("finished" if exc_type is None else "interrupted")

    def request(self, **row: Any) -> None:
        """One action (or, in a rolled-up run, one interval and key) with every requests column."""
        buffer = self._requests
        if self._closed or row.keys() != buffer.names:
            self._reject(buffer, row)
        buffer.add(tuple(row[name] for name in buffer.names))
        if buffer.rows >= self._flush_rows:
            self._flush(buffer)

    def request_values(self, values: tuple[Any, ...]) -> None:
        """One requests row as values in the table's column order: the fast path for engines
        under load (`REQUESTS.columns` gives the order)."""
        buffer = self._requests
        if self._closed or len(values) != buffer.width:
            self._check_open()
            raise ObservationError(f"a requests row needs {buffer.width} values in column order "
                                   f"({', '.join(buffer.names)}), got {len(values)}")
        buffer.data.append(values)
        if len(buffer.data) >= self._flush_rows and self.failure is None:
            self._flush(buffer)

    def gauge(self, **row: Any) -> None:
        """One sample interval; t is required, a gauge the engine cannot measure may be left out."""
        buffer = self._gauges
        if self._closed or "t" not in row or not row.keys() <= buffer.names:
            self._reject(buffer, row)
        buffer.add(tuple(row.get(name) for name in buffer.names))
        if buffer.rows >= self._flush_rows:
            self._flush(buffer)

    def event(self, t: float, kind: str, detail: str = "") -> None:
        """Something that happened once: a ban, a failover, an alarm, a pause, ..."""
        self._check_open()
        buffer = self._events
        buffer.add((t, kind, detail))
        if buffer.rows >= self._flush_rows:
            self._flush(buffer)

    def flush(self) -> None:
        """Write every buffered row to part files now."""
        failure: ObservationError | None = None
        for buffer in (self._requests, self._gauges, self._events):
            try:
                self._flush(buffer)
            except ObservationError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def close(self, status: Literal["finished", "interrupted"] = "finished",
              extra: dict[str, Any] | None = None) -> None:
        """Flush, then record in run.json how the run ended and when (and `extra` facts, such as
        the wall seconds played); closing twice does nothing."""
        if status not in ("finished", "interrupted"):
            raise ObservationError(f"close(status={status!r}): use 'finished' or 'interrupted'")
        if self._closed:
            return
        self._closed = True
        if extra and self._info is not None:
            self._info = self._info.model_copy(update={"extra": {**self._info.extra, **extra}})
        try:
            self.flush()
            for buffer in (self._requests, self._gauges, self._events):
                self._flush(buffer, empty_too=True)  # every table has a file, even with no rows
        except BaseException:
            self._finish("interrupted")
            raise
        self._finish(status)

    def _flush(self, buffer: _Buffer, empty_too: bool = False) -> None:
        if buffer.rows == 0 and not (empty_too and buffer.parts == 0):
            return
        taken = buffer.take()
        frame = buffer.table.from_columns(taken)  # a value of the wrong type: an engine bug, refused
        path = layout.part_path(self.folder, buffer.table.name, self.writer_id, buffer.parts + 1, self._fmt)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_frame(frame, path)
        except Exception as exc:  # a disk full, a folder removed: the rows stay buffered
            buffer.put_back(taken)  # nothing is lost: a later flush or close writes them
            layout.release_reserve(self.folder)  # room for the small writes that mark the run
            reason = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:160] or type(exc).__name__
            self.failure = ObservationError(f"could not write {path}: {reason}")
            raise self.failure from None
        except BaseException:
            buffer.put_back(taken)
            raise
        buffer.parts += 1
        self.failure = None

    def _finish(self, status: str) -> None:
        if self._info is not None:
            ended = {"status": status, "ended_at": self._now()}
            self._write_info(self._info.model_copy(update=ended))

    def _write_info(self, info: RunInfo) -> None:
        write_info(self.folder, info)

    def _refuse_clash(self) -> None:
        for table in (self._requests.table, GAUGES, EVENTS):
            if layout.part_files(self.folder, table.name, self.writer_id):
                raise ObservationError(
                    f"{self.folder} already holds part files from writer {self.writer_id!r}: "
                    "give each writer its own writer_id, or write into a fresh folder"
                )

    def _check_open(self) -> None:
        if self._closed:
            raise ObservationError(f"the writer for {self.folder} is closed: open a new RunWriter")

    def _reject(self, buffer: _Buffer, row: dict[str, Any]) -> None:
        self._check_open()
        required = ("t",) if buffer.table is GAUGES else buffer.names
        missing = [c for c in required if c not in row]
        unknown = [c for c in row if c not in buffer.names]
        raise ObservationError(
            f"a {buffer.table.name} row must name its columns exactly: "
            f"missing {missing or 'none'}, unknown {unknown or 'none'} "
            f"(columns: {', '.join(buffer.names)})"
        )
