"""Reading scenario files: YAML in, a validated Scenario out, or one line saying what to fix.

Every error names the file, the line, the field path and what is expected, e.g.
`scenarios/x.yaml:12: budget.grand_round_fen: must be >= 0 (got -5)`.
"""

from __future__ import annotations

from importlib import resources
import re
import stat
from pathlib import Path
from typing import Iterable
import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from rehearse.scenarios.base import FieldError
from rehearse.scenarios.drills import INCIDENT_KINDS, RESPONSE_KINDS
from rehearse.scenarios.errors import ScenarioError
from rehearse.scenarios.model import Scenario
from rehearse.scenarios.overrides import apply_overrides
from rehearse.scenarios.yaml_text import MAX_SCENARIO_BYTES, read_yaml, refuse_oversized

DEFAULT_SCENARIO = "year_end_red_envelope.yaml"
# Pydantic puts the member of a union into an error's location; the file has no such key.
_UNION_TAGS = frozenset({"uniform", "weighted", *INCIDENT_KINDS, *RESPONSE_KINDS, "name", "span"})
# A cross-reference check that names its own field first (`budget.invite_fen: ...`).
_FIELD_IN_MESSAGE = re.compile(r"^((?:campaign|traffic|personas|links|budget|antifraud|backend_model|target|gates"
                               r"|drills)(?:\.[\w\-]+)*): (.*)$", re.S)


def default_scenario_path() -> Path:
    """The bundled reference campaign."""
    return Path(str(resources.files("rehearse.scenarios").joinpath(DEFAULT_SCENARIO)))


def load_scenario(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Scenario:
    """Load and validate a scenario file (the bundled one when path is None), with optional
    `PATH=VALUE` what-if overrides (see `scenarios.overrides`)."""
    path = Path(path) if path is not None else default_scenario_path()
    return parse_scenario(_read_text(path), source=str(path), overrides=overrides)


def _read_text(path: Path) -> str:
    """The file's text, read no further than the size limit (a FIFO is refused: it could block)."""
    try:
        if stat.S_ISFIFO(path.stat().st_mode):
            raise ScenarioError(f"{path}: a pipe, not a file; give the path of a scenario .yaml file")
        with path.open("rb") as file:
            raw = file.read(MAX_SCENARIO_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file; give the path of a .yaml file") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario: {exc.strerror or exc}; "
                            "give the path of a readable .yaml file") from None
    refuse_oversized(len(raw), str(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file (UTF-8); give the path of a scenario .yaml file") from None


def parse_scenario(text: str, source: str = "<scenario>", overrides: Iterable[str] = ()) -> Scenario:
    """Validate scenario YAML text; `source` names it in error messages."""
    node, data = read_yaml(text, source)
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a YAML mapping (name:, campaign:, ...), got {type(data).__name__}")
    overrides = list(overrides)
    if overrides:
        data = apply_overrides(data, overrides)
        source += f" (with --set {' '.join(map(_shown, overrides))})"
    _refuse_huge_numbers(data, node, source)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_first_error(exc, data, node, source)) from None


def _shown(override: str) -> str:
    """An override as an error line may show it: line breaks and other unprintable characters escaped."""
    return override if override.isprintable() else override.encode("unicode_escape", "backslashreplace").decode()


def _first_error(exc: ValidationError, data: dict, node: yaml.Node | None, source: str) -> str:
    """The first validation error as one line: file, line, field path, what to fix."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc, explained = tuple(first["loc"]), _explain(first)
    raised = (first.get("ctx") or {}).get("error")
    named = _FIELD_IN_MESSAGE.match(explained) if first["type"] == "value_error" else None
    if isinstance(raised, FieldError):  # a check that says at which field it failed
        loc, named = raised.loc, None
    if named:  # a cross-reference check that names its own field (drills.NAME.window: ...)
        loc = tuple(int(p) if p.isdigit() else p for p in named.group(1).split("."))
        explained = named.group(2)
    loc = _without_tags(loc, data, keep_last=first["type"] == "missing")
    line = _line_of(node, loc)
    where = f"{source}:{line}" if line else source
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {_path(loc)}: {explained}{more}"


MAX_NUMBER = 10**15
"""No number a scenario needs is larger (money in fen included); larger ones overflow arrays."""


def _refuse_huge_numbers(data: object, node: yaml.Node | None, source: str,
                         loc: tuple[int | str, ...] = ()) -> None:
    """Numbers too large for the engines' 64-bit arrays, or not finite, named with their field."""
    if isinstance(data, dict):
        for key, value in data.items():
            _refuse_huge_numbers(value, node, source, (*loc, key))
    elif isinstance(data, list):
        for n, value in enumerate(data):
            _refuse_huge_numbers(value, node, source, (*loc, n))
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        if data != data or abs(data) > MAX_NUMBER:
            line = _line_of(node, loc)
            where = f"{source}:{line}" if line else source
            raise ScenarioError(f"{where}: {_path(loc)}: {data!r} is out of range: numbers in a "
                                f"scenario are finite and at most {MAX_NUMBER:,}")


def _without_tags(loc: tuple[int | str, ...], data: object, keep_last: bool = False) -> tuple[int | str, ...]:
    """The location without the union members pydantic puts in it (the file has no such key;
    a drill may well be named like an incident kind, so the data decides). With keep_last, the
    last key is a field's name (a missing field is missing from the data, yet no union tag)."""
    kept: list[int | str] = []
    for n, key in enumerate(loc):
        last = keep_last and n == len(loc) - 1
        if key in _UNION_TAGS and not last and not (isinstance(data, dict) and key in data):
            continue
        kept.append(key)
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            data = None
    return tuple(kept)


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _explain(error: ErrorDetails) -> str:
    kind = error["type"]
    given = error.get("input")
    if kind == "missing":
        return "missing value: this field is required"
    if kind == "extra_forbidden":
        return f"unknown field (value {given!r}); check its spelling against `rehearse scenario show`"
    if kind == "value_error":
        return error["msg"].removeprefix("Value error, ")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = str((error.get("ctx") or {}).get("expected_tags", "'uniform', 'weighted'"))
        *most, last = [t.strip(" '") for t in expected.split(",")]
        tag = (error.get("ctx") or {}).get("tag", given)
        return f"expected kind: {', '.join(most) + ' or ' if most else ''}{last}, got {tag!r}"
    message = error["msg"]
    if given is not None and not isinstance(given, (dict, list)):
        message += f" (got {given!r})"
    return message[0].lower() + message[1:]


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the deepest YAML node the error location reaches."""
    best = node
    for key in loc:
        if isinstance(best, yaml.MappingNode):
            match = next((v for k, v in best.value if k.value == str(key)), None)
            if match is None:
                key_node = next((k for k, _ in best.value if k.value == str(key)), None)
                best = key_node or best
                break
            best = match
        elif isinstance(best, yaml.SequenceNode) and isinstance(key, int) and key < len(best.value):
            best = best.value[key]
        else:
            break
    return best.start_mark.line + 1 if best is not None else None

