"""Options several commands share, written once so they read and behave the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from rehearse.reference_backend.faults import FAULTS

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
