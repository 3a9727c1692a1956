"""What a run folder holds (contract 3), as data: the tables' columns and dtypes, and run.json."""

from __future__ import annotations

import importlib.metadata
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any, Callable, Literal, Mapping

import numpy as np
import pandas as pd
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, field_validator

from rehearse.scenarios.errors import RehearseError

if TYPE_CHECKING:
    from rehearse.scenarios.model import Scenario

Status = Literal["running", "finished", "interrupted", "incomplete"]
"""running: its writer is still at it; incomplete: its writer died without saying how it ended
(read from a run.json left "running" by a process that is gone)."""

# The dtypes a column may have; "Int64" is pandas' nullable integer (an unmeasured gauge).
_KINDS = {
    "float64": "numbers (seconds, ms, rates)",
    "int64": "whole numbers (money in integer fen, counts, statuses)",
    "Int64": "whole numbers or missing values",
    "bool": "True or False",
    "str": "text (use '' for none)",
}


MEASURED = ("t", "latency_ms", "latency_p50", "latency_p95", "latency_p99")
"""Float columns every row measures (when it happened, how long it took): a number, never NaN or
infinite. The other float columns (the gauges' rps, lags, CPU) may be NaN (not measured in
that interval) but never infinite; integer columns cannot hold either."""
LATENCIES = MEASURED[1:]
"""Durations: never below zero either."""


class ObservationError(RehearseError):
    """Rows or files that do not fit contract 3: wrong columns, wrong types, not a run folder."""

    exit_code = 2


@dataclass(frozen=True)
class Table:
    """One table of a run folder: its name and its columns (name -> pandas dtype) in file order."""

    name: str
    columns: Mapping[str, str]
    optional: bool = False  # columns other than t may be left out: read and written empty (gauges)

    def empty(self) -> pd.DataFrame:
        """The table with no rows, every column present with its dtype."""
        return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in self.columns.items()})

    def from_columns(self, data: Mapping[str, list[Any]]) -> pd.DataFrame:
        """Buffered column lists as a frame; each column checked (fen stays integer) and cast."""
        return pd.DataFrame({c: self._cast(c, data[c]) for c in self.columns})

    def conform(self, frame: pd.DataFrame, source: object) -> pd.DataFrame:
        """A frame read from `source` with exactly this table's columns, in order, and dtypes."""
        missing = [c for c in self.columns if c not in frame.columns]
        if self.optional and missing and "t" not in missing:  # an unmeasured gauge: empty, never 0
            frame = frame.reindex(columns=[*frame.columns, *missing])
            missing = []
        unknown = [c for c in frame.columns if c not in self.columns]
        if missing or unknown:
            raise ObservationError(
                f"{source} does not hold the {self.name} table: missing columns "
                f"{missing or 'none'}, unexpected columns {unknown or 'none'} "
                "(was it written in the other form of requests, or by another version?)"
            )
        frame = frame.loc[:, list(self.columns)].astype(dict(self.columns))
        self._check_numbers(frame, source)
        return frame

    def _check_numbers(self, frame: pd.DataFrame, source: object) -> None:
        """Refuse numbers a run cannot have measured: NaN or inf where every row measures a
        number (MEASURED), inf in any float column, a latency below zero."""
        for column, dtype in self.columns.items():
            if dtype != "float64" or frame.empty:
                continue
            values = frame[column].to_numpy()
            if column in LATENCIES:
                bad, what = ~np.isfinite(values) | (values < 0), "NaN, infinite or below 0"
            elif column in MEASURED:
                bad, what = ~np.isfinite(values), "NaN or infinite"
            else:
                bad, what = np.isinf(values), "infinite (a value not measured is left empty, never infinite)"
            count = int(bad.sum())
            if count:
                first = values[bad][0]
                row = int(np.flatnonzero(bad)[0]) + 1
                raise ObservationError(
                    f"{source}: {self.name}.{column} holds {count:,} value(s) that are {what}, the first "
                    f"{float(first)!r} in data row {row:,}; a run cannot have measured them: the file is "
                    "damaged or was not written by rehearse; run the rehearsal again into a fresh folder"
                )

    def _cast(self, column: str, values: list[Any]) -> pd.Series:
        dtype = self.columns[column]
        series = pd.Series(values)
        if not _fits(series, dtype):
            bad = next((v for v in values if not _value_fits(v, dtype)), values[0])
            raise ObservationError(
                f"{self.name}.{column} must hold {_KINDS[dtype]}, got {bad!r} "
                f"({type(bad).__name__}): convert it before writing the row"
            )
        return series.astype(dtype)


def _fits(series: pd.Series, dtype: str) -> bool:
    """Whether a whole column fits its dtype, checked vectorised (the flush path)."""
    if dtype == "str":
        return pd.api.types.infer_dtype(series, skipna=False) in ("string", "empty")
    if dtype == "bool":
        return len(series) == 0 or pd.api.types.is_bool_dtype(series)
    if dtype == "int64":
        return len(series) == 0 or pd.api.types.is_integer_dtype(series)
    present = series.dropna()
    if len(present) == 0:
        return True
    if dtype == "Int64":
        if pd.api.types.is_integer_dtype(present):
            return True
        return pd.api.types.is_float_dtype(present) and bool((present % 1 == 0).all())
    return pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)


def _value_fits(value: object, dtype: str) -> bool:
    """Whether one value fits its column's dtype (only used to name the culprit in an error)."""
    is_bool = isinstance(value, (bool, np.bool_))
    if dtype == "str":
        return isinstance(value, str)
    if dtype == "bool":
        return is_bool
    is_int = isinstance(value, (int, np.integer)) and not is_bool
    if dtype == "int64":
        return is_int
    if value is None or (isinstance(value, float) and value != value):
        return True
    if dtype == "Int64":
        return is_int or (isinstance(value, (float, np.floating)) and float(value).is_integer())
    return is_int or isinstance(value, (float, np.floating))


REQUESTS = Table("requests", {
    "t": "float64",
    "engine": "str",
    "persona": "str",
    "user_id": "str",
    "action": "str",
    "channel": "str",
    "domain": "str",
    "status": "int64",
    "ok": "bool",
    "refused": "bool",
    "latency_ms": "float64",
    "payout_fen": "int64",
    "error": "str",
    # the harness's own ledger: the prize a payout drew on (an institution id, "grand", "invite";
    # "" for other actions) and the attempt the row belongs to (the copies of one burst and the
    # retries of one step share it)
    "prize": "str",
    "attempt": "str",
})
SIMULATOR = "simulator"
"""The engine name of a simulated run: a prediction, not evidence about a target."""
HARNESS_PERSONAS = ("prober", "racer")
"""Participants the harness itself sends at set moments (a ban's prober, a budget race's racers):
judged by the failover and payout gates, left out of the peak gate's load."""
HARNESS_KEY_PREFIX = "harness/"
"""The user ids of the harness's own participants (rehearsal incidents), whatever their persona."""
ACTIVE_BY_MINUTE = "active_by_minute"
"""The event a live run's load processes write at their close: participants playing in each
campaign minute, as JSON {minute start (s): count}; the simulator's active users, counted live."""
CLOCK_START = "clock_start"
"""The event of the moment a live run's campaign clock started (t: the window's start), with the
wall time (UTC, ISO 8601): what places its events on the wall clock across the phases of a rehearsal."""
PROBE = "probe"
"""The event of a probe by the harness's own participants that leaves the scenario's load as it is
(early birds in the preheat, flagged numbers at the door), unlike an `incident` (a ban, a race)."""
HARNESS_STOP = "harness_stop"
"""The event of the moment the harness began to stop (a signal, the run's end, its parent gone, a
fault of its own), with the reason: requests cut from then on are `unanswered`, never the target's."""
UNANSWERED = "unanswered"
"""The error of a request sent but cut off by a stop before its answer came (status 0)."""

# One row per interval and key: a full-scale simulation's requests (no user_id: one row per key).
_NOT_KEYS = ("user_id", "latency_ms", "payout_fen", "attempt")
REQUEST_ROLLUP = Table("requests", {
    **{c: d for c, d in REQUESTS.columns.items() if c not in _NOT_KEYS},
    "count": "int64",
    "latency_p50": "float64",
    "latency_p95": "float64",
    "latency_p99": "float64",
    "payout_fen": "int64",
})

GAUGES = Table("gauges", {
    "t": "float64",
    "active_users": "Int64",
    "arrivals": "Int64",
    "rps": "float64",
    "queue_depth": "Int64",
    "budget_left_fen": "Int64",
    "paid_fen": "Int64",
    "fraud_paid_fen": "Int64",
    "healthy_domains": "Int64",
    "banned_domains": "Int64",
    "alarm_level": "Int64",
    "slots": "Int64",  # a live run's Locust users (slots that take arrivals)
    "waiting": "Int64",  # arrivals due that found no free slot yet (the generator's lag)
    "arrival_lag_ms": "float64",  # p95 of how late arrivals started against when they were due
    # the load generator's own load (a live run; empty for the simulator): the p95 event-loop lag
    # of the interval (how late a wake-up came against the wait it asked for, the most loaded
    # process's) and the CPU percent of one core of the busiest load process
    "loop_lag_ms": "float64",
    "cpu_percent": "float64",
    "host_cpu_percent": "float64",  # the load generator's machine, all cores (a loopback target shares it)
}, optional=True)

EVENTS = Table("events", {"t": "float64", "kind": "str", "detail": "str"})

TOOLS = ("rehearse", "locust", "simpy", "pandas", "pyarrow")


def tables(rolled_up: bool) -> tuple[Table, Table, Table]:
    """The three tables of a run, with requests in the form the run declares."""
    return (REQUEST_ROLLUP if rolled_up else REQUESTS, GAUGES, EVENTS)


def tool_versions() -> dict[str, str]:
    """Python's version and that of each installed tool, so a run says what produced it."""
    versions = {"python": platform.python_version()}
    for name in TOOLS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def utc_now() -> datetime:
    """The wall-clock time in UTC (the default clock for run.json)."""
    return datetime.now(timezone.utc)


class RunInfo(BaseModel):
    """run.json: which scenario, engine and tools produced a run, when, and whether it finished."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)

    scenario: Annotated[str, Field(min_length=1)]
    scenario_digest: Annotated[str, Field(min_length=1)]
    engine: Annotated[str, Field(min_length=1)]
    seed: int
    scale: Annotated[float, Field(gt=0, description="population factor: 1000 means 1:1000")] = 1.0
    compress: Annotated[float, Field(gt=0, description="60 means 1 min of campaign in 1 s")] = 1.0
    versions: dict[str, str]
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    status: Status = "running"
    rolled_up: bool = Field(default=False, description="requests: one row per interval and key")
    extra: dict[str, JsonValue] = Field(default_factory=dict, description="engine-specific facts")
    writer_pid: int | None = Field(default=None, description="the process writing the run, while running")
    writer_host: str | None = Field(default=None, description="the machine of writer_pid")

    @field_validator("started_at", "ended_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(timezone.utc)

    @property
    def live(self) -> bool:
        """A run against a target (swarm, drill), not the simulator's model of one."""
        return self.engine != SIMULATOR

    @property
    def step_load(self) -> bool:
        """A live step load (the peak phase): N participants held playing per step, not the
        window's clock, so its journeys are seconds long slices."""
        return self.live and bool(self.extra.get("steps"))

    @classmethod
    def start(cls, scenario: "Scenario", *, engine: str, seed: int | None = None,
              scale: float = 1.0, compress: float = 1.0, rolled_up: bool = False,
              extra: dict[str, JsonValue] | None = None,
              now: Callable[[], datetime] = utc_now) -> "RunInfo":
        """The run.json of a run of `scenario` starting now, with this interpreter's tools."""
        return cls(scenario=scenario.name, scenario_digest=scenario.digest(), engine=engine,
                   seed=scenario.seed if seed is None else seed, scale=float(scale),
                   compress=float(compress), versions=tool_versions(), started_at=now(),
                   rolled_up=rolled_up, extra=extra or {})
