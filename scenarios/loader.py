"""Reading scenario files: YAML in, a validated Scenario out, or one line saying what to fix.

Every error names the file, the line, the field path and what is expected, e.g.
`scenarios/x.yaml:12: budget.grand_round_fen: must be >= 0 (got -5)`.
"""

from __future__ import annotations

from importlib import resources
import re
from pathlib import Path
from typing import Iterable
import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from rehearse.scenarios.drills import INCIDENT_KINDS, RESPONSE_KINDS
from rehearse.scenarios.errors import ScenarioError
from rehearse.scenarios.model import Scenario
from rehearse.scenarios.overrides import apply_overrides

DEFAULT_SCENARIO = "year_end_red_envelope.yaml"
# Pydantic puts the member of a union into an error's location; the file has no such key.
_UNION_TAGS = frozenset({"uniform", "weighted", *INCIDENT_KINDS, *RESPONSE_KINDS, "name", "span"})
# A cross-reference check that names its own field first (`budget.invite_fen: ...`).
_FIELD_IN_MESSAGE = re.compile(r"^((?:drills|target|budget|personas|backend_model|traffic\.preheat_visitors)"
                               r"(?:\.[\w\-]+)*): (.*)$", re.S)


def default_scenario_path() -> Path:
    """The bundled reference campaign."""
    return Path(str(resources.files("rehearse.scenarios").joinpath(DEFAULT_SCENARIO)))


def load_scenario(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Scenario:
    """Load and validate a scenario file (the bundled one when path is None), with optional
    `PATH=VALUE` what-if overrides (see `scenarios.overrides`)."""
    path = Path(path) if path is not None else default_scenario_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file; give the path of a .yaml file") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file (UTF-8); give the path of a scenario .yaml file") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario: {exc.strerror or exc}; "
                            "give the path of a readable .yaml file") from None
    return parse_scenario(text, source=str(path), overrides=overrides)


def parse_scenario(text: str, source: str = "<scenario>", overrides: Iterable[str] = ()) -> Scenario:
    """Validate scenario YAML text; `source` names it in error messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}{_mark(exc)}: YAML does not parse: {_yaml_problem(exc)}") from None
    _refuse_duplicate_keys(node, source)
    data = _construct(node, source)
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a YAML mapping (name:, campaign:, ...), got {type(data).__name__}")
    overrides = list(overrides)
    if overrides:
        data = apply_overrides(data, overrides)
        source += f" (with --set {' '.join(overrides)})"
    _refuse_huge_numbers(data, node, source)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        loc, explained = tuple(first["loc"]), _explain(first)
        named = _FIELD_IN_MESSAGE.match(explained) if first["type"] == "value_error" else None
        if named:  # a cross-reference check that names its own field (drills.NAME.window: ...)
            loc = tuple(int(p) if p.isdigit() else p for p in named.group(1).split("."))
            explained = named.group(2)
        loc = _without_tags(loc, data, keep_last=first["type"] == "missing")
        line = _line_of(node, loc)
        where = f"{source}:{line}" if line else source
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ScenarioError(f"{where}: {_path(loc)}: {explained}{more}") from None


def _mark(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    text = f"{problem} ({context})" if context else problem
    hint = next((h for fragment, h in _YAML_HINTS if fragment in text), _YAML_HINT)
    return f"{text}: {hint}"


_YAML_HINT = "fix the YAML at that line (`rehearse scenario show --format yaml` prints a valid scenario)"
_YAML_HINTS = (
    ("mapping values are not allowed", "a value holds ': ' or the line is indented deeper than its key; "
                                       "quote the value or line the key up with its neighbours"),
    ("'\\t'", "indent with spaces, not tabs"),
    ("\\t", "indent with spaces, not tabs"),
    ("could not find expected ':'", "a line lacks the ':' of 'key: value', or a quote is not closed"),
    ("quoted scalar", "a quoted value is not closed; add its closing quote"),
    ("flow sequence", "a [list] is not closed or lacks a comma between items"),
    ("flow mapping", "a {mapping} is not closed or lacks a comma between items"),
    ("undefined alias", "an *alias names no &anchor defined above it"),
    ("expected <block end>", "this line's indentation does not line up with the lines above"),
    ("block mapping", "this line's indentation does not line up with the lines above"),
)


def _refuse_duplicate_keys(node: yaml.Node | None, source: str) -> None:
    """A key given twice in one mapping (YAML keeps the last one silently) is an error."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                line = key.start_mark.line + 1
                if key.value in seen:
                    raise ScenarioError(f"{source}:{line}: {key.value}: given twice (first on line "
                                        f"{seen[key.value]}); keep one of them")
                seen[key.value] = line
            _refuse_duplicate_keys(value, source)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(item, source)


def _construct(node: yaml.Node | None, source: str) -> object:
    """Python values from the YAML nodes; a value YAML reads but cannot build (a date such as
    2026-13-45) is named with its line."""
    if node is None:
        return None
    try:
        return yaml.SafeLoader("").construct_document(node)
    except (ValueError, OverflowError, yaml.YAMLError) as exc:
        bad = _first_unbuildable(node)
        where = f":{bad.start_mark.line + 1}" if bad is not None else ""
        value = f" {bad.value!r}" if bad is not None else ""
        raise ScenarioError(f"{source}{where}: the value{value} cannot be read: {exc}; "
                            "write a real date such as 2026-12-20T10:00:00+08:00, or quote it") from None


def _first_unbuildable(node: yaml.Node) -> yaml.ScalarNode | None:
    if isinstance(node, yaml.ScalarNode):
        try:
            yaml.SafeLoader("").construct_object(node)
        except (ValueError, OverflowError, yaml.YAMLError):
            return node
        return None
    children = node.value if isinstance(node, yaml.SequenceNode) else (
        [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else [])
    return next((bad for child in children if (bad := _first_unbuildable(child)) is not None), None)


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

