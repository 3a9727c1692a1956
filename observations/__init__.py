"""Observations (contract 3): the run folder every engine writes and every gate reads."""

from rehearse.observations.files import Format, default_format, write_info
from rehearse.observations.folder import Run, consolidate, load_run, read_info, save_run
from rehearse.observations.schema import (
    EVENTS,
    GAUGES,
    REQUEST_ROLLUP,
    REQUESTS,
    ObservationError,
    RunInfo,
    Table,
    tool_versions,
)
from rehearse.observations.writer import RunWriter

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
    "write_info",
]
