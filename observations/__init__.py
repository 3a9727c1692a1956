"""Observations (contract 3): the run folder every engine writes and every gate reads."""

from observations.files import Format, default_format
from observations.folder import Run, consolidate, load_run, read_info, save_run
from observations.schema import (
    EVENTS,
    GAUGES,
    REQUEST_ROLLUP,
    REQUESTS,
    ObservationError,
    RunInfo,
    Table,
    tool_versions,
)
from observations.writer import RunWriter

__all__ = [
    "EVENTS",
    "Format",
    "GAUGES",
    "ObservationError",
    "REQUESTS",
    "REQUEST_ROLLUP",
    "Run",
    "RunInfo",
    "RunWriter",
    "Table",
    "consolidate",
    "default_format",
    "load_run",
    "read_info",
    "save_run",
    "tool_versions",
]
