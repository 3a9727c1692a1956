"""Scenario YAML read under bounds: size, nesting, expanded size (aliases), tags and values YAML
reads but cannot build, each refused in one line naming the place (`x.yaml:12: ...`). The loader
reads files with it, and `--set PATH=VALUE` reads its VALUEs with it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from rehearse.scenarios.errors import ScenarioError

if TYPE_CHECKING:
    from yaml._yaml import Mark as CMark  # libyaml's marks, on the events of its parser


def refuse_oversized(size: int, source: str) -> None:
    """A scenario larger than any campaign needs is refused before it is parsed."""
    if size > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{source}: the scenario is over {MAX_SCENARIO_BYTES:,} bytes (1 MiB; the bundled "
                            "one is about 20 KB); a file that large is not a scenario: give the right file, "
                            "or trim it")


def read_yaml(text: str, source: str) -> tuple[yaml.Node | None, object]:
    """The YAML's node tree (for line numbers) and its Python values, composed once and bounded
    (size, depth, expanded size, tags, keys): a one-line ScenarioError for anything else."""
    refuse_oversized(len(text), source)
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
    newlines = before.count(b"\n") if isinstance(before, bytes) else before.count("\n")  # libyaml counts bytes
    return f":{newlines + 1}"


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

    def _document(self, loader: yaml.SafeLoader | yaml.CSafeLoader) -> yaml.Node:
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
                assert isinstance(event, yaml.ScalarEvent)  # all a document holds besides the above
                node, size, height = self._scalar(loader, event)
            if not self.stack:
                return node
            self._attach(node, size, height)

    def _open(self, loader: yaml.SafeLoader | yaml.CSafeLoader, event: yaml.CollectionStartEvent) -> None:
        if len(self.stack) + 1 > MAX_DEPTH:
            self._refuse(event, _TOO_DEEP)
        kind = yaml.MappingNode if isinstance(event, yaml.MappingStartEvent) else yaml.SequenceNode
        node = kind(self._tag(loader, kind, event), [],
                    event.start_mark, None, flow_style=event.flow_style)  # type: ignore[arg-type]  # stubs: PyYAML's Mark, not libyaml's
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
                                              event.start_mark)  # type: ignore[arg-type]  # stubs: PyYAML's Mark, not libyaml's
        node, size, height = self.anchors[event.anchor]
        self._count(event, size)  # the expanded document holds the anchored value once more
        return node, size, height

    def _scalar(self, loader: yaml.SafeLoader | yaml.CSafeLoader,
                event: yaml.ScalarEvent) -> tuple[yaml.Node, int, int]:
        node = yaml.ScalarNode(self._tag(loader, yaml.ScalarNode, event), event.value,
                               event.start_mark, event.end_mark, style=event.style)  # type: ignore[arg-type]  # stubs: PyYAML's Mark, not libyaml's
        self._count(event, 1)
        if event.anchor is not None:
            self.anchors[event.anchor] = (node, 1, 1)
        return node, 1, 1

    def _tag(self, loader: yaml.SafeLoader | yaml.CSafeLoader, kind: type,
             event: yaml.CollectionStartEvent | yaml.ScalarEvent) -> str:
        """The node's tag: the resolver's for an untagged value, else the one given, if allowed."""
        if event.tag is None or event.tag == "!":
            value = event.value if isinstance(event, yaml.ScalarEvent) else None
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

    def _refuse_at(self, mark: yaml.Mark | CMark | None, why: str) -> None:
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
