"""Options several commands share, written once so they read and behave the same everywhere."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable

import click

from rehearse.reference_backend.faults import FAULTS

SEED_MAX = 2**32 - 1
USERS_MAX = 50_000
"""Locust users at a swarm's peak: more than a loopback target and one machine can take."""
WORKERS_MAX = 64
SPEED_MAX = 1_000_000.0
"""Campaign seconds per wall second (backend --speed, swarm --compress): 11 days in a second."""


class FiniteFloat(click.FloatRange):
    """A float in range that is a real number: nan and inf are refused like any value out of range."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; {self._describe_range()}", param, ctx)
        return number


class OutDir(click.Path):
    """A folder the command will create and write into: refused at once if it cannot be one."""

    def __init__(self) -> None:
        super().__init__(path_type=Path, file_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = Path(super().convert(value, param, ctx))
        if not str(path).strip():
            self.fail("an empty path; give a folder such as runs/x", param, ctx)
        for part in path.parts:
            if len(os.fsencode(part)) > 255:
                self.fail(f"the name {part[:40]}... is {len(os.fsencode(part))} bytes long; "
                          "a file name may hold 255 at most", param, ctx)
        for parent in [path, *path.parents]:
            if parent.exists():
                if not parent.is_dir():
                    self.fail(f"{parent} is a file, so {path} cannot be a folder; choose another path",
                              param, ctx)
                if not os.access(parent, os.W_OK | os.X_OK):
                    self.fail(f"{parent} is not writable; choose a folder you can write to", param, ctx)
                break
        return path


SEED = click.IntRange(0, SEED_MAX)

SCENARIO_ARGUMENT = click.argument("scenario_path", metavar="[SCENARIO]", required=False,
                                   type=click.Path(path_type=Path, dir_okay=False))
OVERRIDES = click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
                         help="What-if override (repeatable).")


def target_options(when: str = "") -> list[Callable[[Any], Any]]:
    """Where the requests go: --host (else the reference backend, started on loopback, with
    --fault defects), --ops-token for its operations hooks, --allow-remote. `when` prefixes
    the help of commands where they apply only in one mode (e.g. "With --live: ")."""
    def say(text: str) -> str:
        return f"{when}{text[0].lower()}{text[1:]}" if when else text

    return [
        click.option("--host", help=say("Campaign backend URL. [default: start the reference backend on loopback]")),
        click.option("--fault", "faults", multiple=True, metavar="NAME",
                     help=say(f"Plant a defect in the auto-started reference backend: {', '.join(FAULTS)}.")),
        click.option("--ops-token", envvar="REHEARSE_OPS_TOKEN",
                     help=say("Token for the target's operations hooks (env REHEARSE_OPS_TOKEN).")),
        click.option("--allow-remote", is_flag=True,
                     help=say("Allow a non-loopback --host, if the scenario's target.allow_remote_hosts lists it.")),
    ]


def applied(options: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """One decorator applying click options in the order listed (as --help shows them)."""
    def decorate(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command
    return decorate
