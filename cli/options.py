"""Options several commands share, written once so they read and behave the same everywhere:
the value types that refuse a bad value at the edge (numbers finite and bounded, paths that can
be paths, durations, tokens), and the cross-checks that refuse a flag its combination would
ignore."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable, cast

import click
from click.core import ParameterSource

from rehearse.reference_backend.faults import FAULTS
from rehearse.scenarios import UsageError
from rehearse.scenarios.units import parse_duration

SEED_MAX = 2**32 - 1
USERS_MAX = 50_000
"""Locust users at a swarm's peak: more than a loopback target and one machine can take."""
WORKERS_MAX = 64
SPEED_MAX = 1_000_000.0
"""Campaign seconds per wall second (backend --speed, swarm --compress): 11 days in a second."""
WALL_MIN_S = 1.0
WALL_MAX_S = 86400.0
"""A wall time given on the command line: from a second to a day (swarm/settings.py MAX_WALL_S)."""
TOKEN_MAX = 4096
"""Characters in a token sent as an HTTP header: more than any server takes in one header."""
OVERRIDE_MAX = 4096
"""Characters in one --set: below Python's 4,300 digits of a number read from text."""
NESTING_MAX = 64
"""Brackets nested in one --set value: far below what exhausts the YAML reader's recursion."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LONG_WORD = 200
"""Characters of one word an error line shows whole; a longer value (a 100 kB --window) is cut."""


def one_line(message: str) -> str:
    """A message as one line (it never spans lines), a very long word in it shortened."""
    return " ".join(word if len(word) <= LONG_WORD else f"{word[:100]}...[{len(word):,} characters]...{word[-40:]}"
                    for word in message.split())


class FiniteFloat(click.FloatRange):
    """A float in range that is a real number: nan and inf are refused like any value out of range."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; {self._describe_range()}", param, ctx)
        return number


def _check_path_text(kind: click.ParamType, value: Any, param: click.Parameter | None,
                     ctx: click.Context | None, example: str) -> None:
    """An empty path (click reads it as the current folder) or one with a control character
    (a NUL cannot reach the file system) is refused before it is taken for a path."""
    text = os.fsdecode(value) if isinstance(value, bytes) else str(value)
    if not text.strip():
        kind.fail(f"an empty path; give one such as {example}", param, ctx)
    if _CONTROL.search(text):
        kind.fail(f"{text[:80]!r} holds a control character (a NUL, a newline, a tab); give a plain "
                  f"path such as {example}", param, ctx)


class InPath(click.Path):
    """A file or folder the command reads (a scenario, a run folder, a database): refused at
    once when it cannot be a path."""

    def __init__(self, *, file_okay: bool = True, dir_okay: bool = True, example: str = "runs/x") -> None:
        super().__init__(path_type=Path, file_okay=file_okay, dir_okay=dir_okay)
        self.example = example

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (str, bytes)):
            _check_path_text(self, value, param, ctx, self.example)
        return super().convert(value, param, ctx)


class OutDir(click.Path):
    """A folder the command will create and write into: refused at once if it cannot be one."""

    def __init__(self) -> None:
        super().__init__(path_type=Path, file_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (str, bytes)):
            _check_path_text(self, value, param, ctx, "runs/x")
        path = Path(cast(Path, super().convert(value, param, ctx)))  # a Path (path_type); click's type covers any
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


class WallTime(click.ParamType):
    """Wall seconds from a duration (60s, 2m, 1.5h), between `min_s` and `max_s`."""

    name = "duration"

    def __init__(self, min_s: float = WALL_MIN_S, max_s: float = WALL_MAX_S) -> None:
        self.min_s, self.max_s = min_s, max_s

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        bounds = f"from {self.min_s:g}s to {self.max_s / 3600:g}h"
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            if "out of range" in str(exc):
                self.fail(f"{value!r} is out of range; a wall time {bounds}", param, ctx)
            self.fail(f"{value!r} is not a duration; give one such as 60s or 2m ({bounds})", param, ctx)
        if not self.min_s <= seconds <= self.max_s:
            self.fail(f"{value!r} is out of range; a wall time {bounds}", param, ctx)
        return seconds


class HeaderToken(click.ParamType):
    """A token the harness sends in an HTTP header (--ops-token): printable ASCII without
    spaces; anything else would be mangled on the way or refused by the server (HTTP 500)."""

    name = "token"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        where = _env_hint(param, ctx)
        if not value:
            self.fail(f"an empty token{where}; give the token the backend printed, or leave the flag out",
                      param, ctx)
        if len(value) > TOKEN_MAX:
            self.fail(f"the token{where} is {len(value):,} characters long; at most {TOKEN_MAX:,}", param, ctx)
        for at, char in enumerate(value):
            if not "\x21" <= char <= "\x7e":
                self.fail(f"the token{where} holds {char!r} (U+{ord(char):04X}) at position {at + 1}; it goes "
                          "in an HTTP header: printable ASCII without spaces", param, ctx)
        return value


class TotpSecret(click.ParamType):
    """A TOTP secret (base32, as `rehearse backend` prints its 2FA secret): checked by making a
    code from it, so a top-up does not fail halfway through a drill."""

    name = "secret"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import pyotp

        try:
            pyotp.TOTP(value).now()
        except Exception:  # pyotp raises binascii.Error, ValueError, TypeError for a bad secret
            self.fail(f"not a TOTP secret{_env_hint(param, ctx)}: give the base32 secret (A-Z, 2-7, at least "
                      "16 characters) the backend printed as its 2FA secret", param, ctx)
        return value


class Override(click.ParamType):
    """A what-if override PATH=VALUE (the scenario loader reads it): bounded in length and in
    nesting, so a value cannot exhaust the YAML reader (a 5,000-digit number, 5,000 brackets)."""

    name = "PATH=VALUE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if len(value) > OVERRIDE_MAX:
            self.fail(f"{value[:60]!r}... is {len(value):,} characters long; an override holds at most "
                      f"{OVERRIDE_MAX:,} (put a large value in a scenario file)", param, ctx)
        depth = deepest = 0
        for char in value:
            depth += (char in "[{") - (char in "]}")
            deepest = max(deepest, depth)
        if deepest > NESTING_MAX:
            self.fail(f"{value[:60]!r}... nests {deepest} levels of brackets; at most {NESTING_MAX}", param, ctx)
        return value


def _env_hint(param: click.Parameter | None, ctx: click.Context | None) -> str:
    """' (from REHEARSE_X)' when the value came from the option's environment variable."""
    if param is None or ctx is None or param.name is None:
        return ""
    if ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT:
        return f" (from {param.envvar})"
    return ""


SEED = click.IntRange(0, SEED_MAX)

SCENARIO_ARGUMENT = click.argument("scenario_path", metavar="[SCENARIO]", required=False,
                                   type=InPath(dir_okay=False, example="scenario.yaml"))
OVERRIDES = click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", type=Override(),
                         help="What-if override (repeatable).")
DRY_RUN = click.option("--dry-run", is_flag=True,
                       help="Check every input as a real run would and print the plan; start nothing, "
                            "send nothing, write nothing.")
FORCE = click.option("--force", is_flag=True,
                     help="With --out: replace the run that folder holds (a folder holding files no run "
                          "wrote is never cleared). [default: a folder holding a run is refused]")
SECRETS = ("ops_token", "otp_secret")


def target_options(when: str = "") -> list[Callable[[Any], Any]]:
    """Where the requests go: --host (else the reference backend, started on loopback, with
    --fault defects), --ops-token for its operations hooks, --allow-remote. `when` prefixes
    the help of commands where they apply only in one mode (e.g. "With --live: ")."""
    def say(text: str) -> str:
        if not when:
            return text
        if text.startswith("With --host: "):  # "With --live: " + "With --host: " -> "With --live --host: "
            return f"{when.rstrip(': ')} --host: {text.removeprefix('With --host: ')}"
        return f"{when}{text[0].lower()}{text[1:]}"

    return [
        click.option("--host", help=say("Campaign backend URL. [default: start the reference backend on loopback]")),
        click.option("--fault", "faults", multiple=True, metavar="NAME",
                     help=say(f"Plant a defect in the auto-started reference backend: {', '.join(FAULTS)}.")),
        click.option("--ops-token", envvar="REHEARSE_OPS_TOKEN", type=HeaderToken(),
                     help=say("With --host: token for the target's operations hooks (env REHEARSE_OPS_TOKEN).")),
        click.option("--allow-remote", is_flag=True,
                     help=say("With --host: allow a non-loopback host, if the scenario's "
                              "target.allow_remote_hosts lists it.")),
    ]


def applied(options: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """One decorator applying click options in the order listed (as --help shows them)."""
    def decorate(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


# --- cross-checks: a flag its combination would ignore is refused, saying what it needs ----------

def given(ctx: click.Context, name: str) -> bool:
    """Whether the user gave option `name` (on the command line or in its environment variable),
    rather than leaving it to its default."""
    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _param(ctx: click.Context, name: str) -> click.Parameter:
    return next(p for p in ctx.command.params if p.name == name)


def flag_name(ctx: click.Context, name: str) -> str:
    """The option's long flag, e.g. '--peak-step-duration'."""
    return max(_param(ctx, name).opts, key=len)


def shown(ctx: click.Context, name: str) -> str:
    """Option `name` as the user gave it, for a message: '--step-duration 30s', '--live',
    'REHEARSE_OPS_TOKEN (--ops-token)'; a secret's value is never shown."""
    param = _param(ctx, name)
    flag = flag_name(ctx, name)
    if ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT:
        return f"{param.envvar} ({flag})"
    value = ctx.params.get(name)
    if getattr(param, "is_flag", False) or name in SECRETS or value is None:
        return flag
    if isinstance(value, tuple):
        value = value[0] if value else ""
    if isinstance(param.type, WallTime):
        return f"{flag} {value:g}s"
    return f"{flag} {value}"


def only_with(ctx: click.Context, names: Iterable[str], applies: bool, needs: str, add: str) -> None:
    """Refuse each option in `names` the user gave when `applies` is false (its combination
    would ignore it): '--step-duration 30s: applies only with --steps; add --steps N,N,...,
    or drop --step-duration'."""
    if applies:
        return
    for name in names:
        if given(ctx, name):
            leave = (f"unset {_param(ctx, name).envvar}"
                     if ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT
                     else f"drop {flag_name(ctx, name)}")
            raise UsageError(f"{shown(ctx, name)}: applies only {needs}; {add}, or {leave}")


def force_only(ctx: click.Context, out: Path | None, dry_run: bool = False) -> None:
    """--force replaces the run an --out folder holds: refused without --out (a default folder is
    always new); checked before anything starts, for a dry run too (which clears nothing)."""
    from rehearse.observations.claim import check_unused

    only_with(ctx, ["force"], out is not None, "with --out (a default run folder is always new)",
              "add --out DIR")
    if out is not None:
        check_unused(out, bool(ctx.params.get("force")))


def host_only(ctx: click.Context, host: str | None, names: Iterable[str] = ("ops_token", "allow_remote")) -> None:
    """--ops-token and --allow-remote say how to reach a given target: without --host the
    auto-started reference backend (on loopback, with its own token) would ignore them."""
    if host is not None and not host.strip():
        raise UsageError(f"--host {host!r}: empty; give a URL such as http://127.0.0.1:8700, or leave --host out "
                         "to start the reference backend")
    only_with(ctx, names, host is not None, "with --host (the auto-started reference backend is on loopback "
              "and has its own token)", "add --host URL")
