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
    _refuse_oversized(len(raw), str(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file (UTF-8); give the path of a scenario .yaml file") from None


def _refuse_oversized(size: int, source: str) -> None:
    """A scenario larger than any campaign needs is refused before it is parsed."""
    if size > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{source}: the scenario is over {MAX_SCENARIO_BYTES:,} bytes (1 MiB; the bundled "
                            "one is about 20 KB); a file that large is not a scenario: give the right file, "
                            "or trim it")


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


def read_yaml(text: str, source: str) -> tuple[yaml.Node | None, object]:
    """The YAML's node tree (for line numbers) and its Python values, composed once and bounded
    (size, depth, expanded size, tags, keys): a one-line ScenarioError for anything else."""
    _refuse_oversized(len(text), source)
    try:
        node = _BoundedComposer(text, source).compose()
    except UnicodeEncodeError as exc:  # a lone surrogate: bytes that were not UTF-8 (an argv, an API caller)
        line = text.count("\n", 0, exc.start) + 1
        raise ScenarioError(f"{source}:{line}: the text holds {text[exc.start]!r}, which is no character "
                            "(bytes that are not UTF-8); write it as UTF-8 text") from None
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml's own limit (1,000), met while scanning ahead
            raise ScenarioError(f"{source}{_mark(exc, text)}: {_TOO_DEEP}") from None
        exc = (_pyyaml_error(text) if len(text) <= _REWORD_CHARS else None) or exc
        raise ScenarioError(f"{source}{_mark(exc, text)}: YAML does not parse: {_yaml_problem(exc)}") from None
    return node, _construct(node, source)


_REWORD_CHARS = 2**17
"""Up to 128 K characters (~0.3 s) the pure-Python parser rewords a parse error; beyond, libyaml's words."""


def _pyyaml_error(text: str) -> yaml.YAMLError | None:
    """PyYAML's own wording of a parse error (the hints below know it; libyaml words it
    otherwise), from its parser alone: events, no nodes, no recursion. Only on the error path."""
    try:
        for _ in yaml.parse(text, Loader=yaml.SafeLoader):
            pass
    except yaml.YAMLError as exc:
        return exc
    return None


def _mark(exc: yaml.YAMLError, text: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f":{mark.line + 1}:{mark.column + 1}"
    position = getattr(exc, "position", None)  # a reader error (a control character) has only its offset
    if not isinstance(position, int):
        return ""
    before = text.encode("utf-8")[:position] if _LOADER is not yaml.SafeLoader else text[:position]
    return f":{before.count(10 if isinstance(before, bytes) else chr(10)) + 1}"  # libyaml counts bytes


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
    ("characters are not allowed", "the file holds a control character (NUL, ESC, ...): remove it, or save "
                                   "the file as plain UTF-8 text"),
    ("expected <block end>", "this line's indentation does not line up with the lines above"),
    ("block mapping", "this line's indentation does not line up with the lines above"),
)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML has it (events ~15x faster than the pure-Python scanner)."""
MAX_SCENARIO_BYTES = 2**20
"""1 MiB: the bundled scenario is ~20 KB; a file 50 times that is a mistake, not a campaign."""
MAX_DEPTH = 64
"""Nesting of the YAML, aliases expanded: the bundled scenario nests 7 deep; deeper nests only
ever come from generated or hostile files (and would exhaust Python's recursion)."""
MAX_NODES = 100_000
"""Values of the YAML with every alias expanded: the bundled scenario has ~1,100; a "billion
laughs" (aliases of aliases) is refused after this many instead of expanding for minutes."""
_TOO_DEEP = (f"the YAML nests deeper than {MAX_DEPTH} levels (a scenario nests about 7): flatten it, or "
             "give the right file")
_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map",
                                                      "timestamp"))
"""The explicit tags a scenario may use (`!!str 123`); others (!!binary, !!set, !!python/...) build
values no field takes."""


class _Open:
    """A mapping or sequence being composed: its node, anchor, expanded size and height so far."""

    __slots__ = ("node", "anchor", "size", "height", "key", "keys")

    def __init__(self, node: yaml.Node, anchor: str | None) -> None:
        self.node, self.anchor, self.size, self.height = node, anchor, 1, 1
        self.key: yaml.Node | None = None  # a mapping's key waiting for its value
        self.keys: dict[str, int] = {}  # a mapping's keys so far, with their lines


class _BoundedComposer:
    """YAML events to yaml nodes without recursion, refusing as it goes what no scenario holds:
    a nest deeper than MAX_DEPTH, more than MAX_NODES values with aliases expanded (an alias of
    its own anchor included), a key given twice, a key that is not a plain value, a foreign tag.
    One pass over the parser's events: the node tree keeps each value's line for the errors."""

    def __init__(self, text: str, source: str) -> None:
        self.text, self.source = text, source
        self.anchors: dict[str, tuple[yaml.Node, int, int]] = {}  # anchor: (node, size, height)
        self.stack: list[_Open] = []
        self.expanded = 0

    def compose(self) -> yaml.Node | None:
        """The single document's root node (None for an empty stream)."""
        loader = _LOADER(self.text)
        try:
            loader.get_event()  # stream start
            if loader.check_event(yaml.StreamEndEvent):
                return None
            loader.get_event()  # document start
            root = self._document(loader)
            loader.get_event()  # document end
            if not loader.check_event(yaml.StreamEndEvent):
                event = loader.get_event()
                raise yaml.composer.ComposerError("expected a single document in the stream", None,
                                                  "but found another document", event.start_mark)
            return root
        finally:
            loader.dispose()

    def _document(self, loader: yaml.BaseLoader) -> yaml.Node:
        while True:
            event = loader.get_event()
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                self._open(loader, event)
                continue
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                node, size, height = self._close(event)
            elif isinstance(event, yaml.AliasEvent):
                node, size, height = self._alias(event)
            else:
                node, size, height = self._scalar(loader, event)
            if not self.stack:
                return node
            self._attach(node, size, height)

    def _open(self, loader: yaml.BaseLoader, event: yaml.Event) -> None:
        if len(self.stack) + 1 > MAX_DEPTH:
            self._refuse(event, _TOO_DEEP)
        kind = yaml.MappingNode if isinstance(event, yaml.MappingStartEvent) else yaml.SequenceNode
        node = kind(self._tag(loader, kind, event), [], event.start_mark, None, flow_style=event.flow_style)
        self._count(event, 1)
        self.stack.append(_Open(node, event.anchor))

    def _close(self, event: yaml.Event) -> tuple[yaml.Node, int, int]:
        done = self.stack.pop()
        done.node.end_mark = event.end_mark
        if done.anchor is not None:
            self.anchors[done.anchor] = (done.node, done.size, done.height)
        return done.node, done.size, done.height

    def _alias(self, event: yaml.AliasEvent) -> tuple[yaml.Node, int, int]:
        if any(open_.anchor == event.anchor for open_ in self.stack):
            self._refuse(event, f"the alias *{event.anchor} is inside its own anchor &{event.anchor}, "
                                "which would make the value endless; copy the values instead")
        if event.anchor not in self.anchors:
            raise yaml.composer.ComposerError(None, None, f"found undefined alias {event.anchor!r}",
                                              event.start_mark)
        node, size, height = self.anchors[event.anchor]
        self._count(event, size)  # the expanded document holds the anchored value once more
        return node, size, height

    def _scalar(self, loader: yaml.BaseLoader, event: yaml.ScalarEvent) -> tuple[yaml.Node, int, int]:
        node = yaml.ScalarNode(self._tag(loader, yaml.ScalarNode, event), event.value, event.start_mark,
                               event.end_mark, style=event.style)
        self._count(event, 1)
        if event.anchor is not None:
            self.anchors[event.anchor] = (node, 1, 1)
        return node, 1, 1

    def _tag(self, loader: yaml.BaseLoader, kind: type, event: yaml.Event) -> str:
        """The node's tag: the resolver's for an untagged value, else the one given, if allowed."""
        if event.tag is None or event.tag == "!":
            value = event.value if kind is yaml.ScalarNode else None
            return loader.resolve(kind, value, event.implicit)
        if event.tag not in _TAGS:
            shown = event.tag.replace("tag:yaml.org,2002:", "!!")
            self._refuse(event, f"the tag {shown} is not used in scenarios (they hold plain values: text, "
                                "numbers, true/false, dates, lists, mappings); remove it")
        return event.tag

    def _count(self, event: yaml.Event, size: int) -> None:
        self.expanded += size
        if self.expanded > MAX_NODES:
            self._refuse(event, f"the YAML holds over {MAX_NODES:,} values with its aliases expanded (the "
                                "bundled scenario has ~1,100); an alias of an alias of a list multiplies "
                                "it: copy the values you need instead of nesting aliases")

    def _attach(self, node: yaml.Node, size: int, height: int) -> None:
        """A finished value into its parent: a sequence's item, or a mapping's key then value."""
        parent = self.stack[-1]
        if len(self.stack) + height > MAX_DEPTH:
            self._refuse_at(node.start_mark, f"the YAML nests deeper than {MAX_DEPTH} levels with its aliases "
                                             "expanded; a scenario nests about 7: copy the values instead")
        parent.size += size
        parent.height = max(parent.height, height + 1)
        if isinstance(parent.node, yaml.SequenceNode):
            parent.node.value.append(node)
        elif parent.key is None:
            self._check_key(parent, node)
            parent.key = node
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None

    def _check_key(self, parent: _Open, key: yaml.Node) -> None:
        """A key is a plain value, once per mapping (YAML would keep the last one silently)."""
        if not isinstance(key, yaml.ScalarNode):
            what = "mapping" if isinstance(key, yaml.MappingNode) else "list"
            self._refuse_at(key.start_mark, f"a {what} is used as a key; keys are plain names: write name: value")
        if key.tag == "tag:yaml.org,2002:merge":
            return
        line = key.start_mark.line + 1
        first = parent.keys.get(key.value)
        if first is None:
            parent.keys[key.value] = line
        else:
            raise ScenarioError(f"{self.source}:{line}: {key.value}: given twice (first on line {first}); "
                                "keep one of them")

    def _refuse(self, event: yaml.Event, why: str) -> None:
        self._refuse_at(event.start_mark, why)

    def _refuse_at(self, mark: yaml.Mark | None, why: str) -> None:
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ScenarioError(f"{self.source}{where}: {why}")


def _construct(node: yaml.Node | None, source: str) -> object:
    """Python values from the YAML nodes; a value YAML reads but cannot build (a date such as
    2026-13-45, a merge `<<:` of no mapping) is named with its line."""
    if node is None:
        return None
    try:
        return yaml.constructor.SafeConstructor().construct_document(node)
    except yaml.MarkedYAMLError as exc:  # the constructor's own words and mark (a merge of a non-mapping)
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ScenarioError(f"{source}{where}: the YAML cannot be read: {exc.problem}; a merge key `<<:` takes "
                            "a mapping or a list of mappings (<<: *defaults)") from None
    except (ValueError, OverflowError, yaml.YAMLError) as exc:
        bad = _first_unbuildable(node)
        where = f":{bad.start_mark.line + 1}" if bad is not None else ""
        value = f" {bad.value!r}" if bad is not None else ""
        fix = ("write a real date such as 2026-12-20T10:00:00+08:00, or quote it"
               if bad is None or bad.tag.endswith(":timestamp") else "write a value of that type, or quote it")
        raise ScenarioError(f"{source}{where}: the value{value} cannot be read: {' '.join(str(exc).split())}; "
                            f"{fix}") from None


def _first_unbuildable(node: yaml.Node) -> yaml.ScalarNode | None:
    if isinstance(node, yaml.ScalarNode):
        try:
            yaml.constructor.SafeConstructor().construct_object(node)
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

