"""The `target` section (contract 2): each abstract action mapped to an HTTP request, and how
to judge its answer.

Templates are Python format strings over these roots: `user` (the synthetic identity),
`session` (what earlier answers gave, see `extract`), `params` (the step's parameters), `link`
(the share link a visitor follows), `step` (`{step.id}`: the same for the retries and burst
copies of one step), `request` (`{request.id}`: unique per request) and `fn` (`{fn.NAME}`: a
function of `target.functions`, called with the request as built so far). A value that is one
whole template, such as "{params.amount}", keeps its type; if it resolves to nothing, the key
is left out.

An answer is judged by its status and, where the mapping says so, its body: `refused_when`
(any condition holds: refused by the campaign's rules), `ok_when` (every condition holds: done;
else it broke), `reason` (where the refusal's reason is). Money is read from `payout_field` in
`payout_unit` (fen, yuan or fen per unit), exactly, rounded to the nearest fen (halves away from
zero).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import string
import sys
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from rehearse.scenarios.base import Section

ACTIONS = (
    "open_page",
    "view_rules",
    "login",
    "complete_task",
    "open_envelope",
    "open_invite_envelope",
    "grand_draw",
    "share",
    "visit_link",
    "follow",
)
OPERATIONS = ("report_ban", "ledger", "link_pool", "stats", "set_clock")
TEMPLATE_ROOTS = ("user", "session", "params", "link", "step", "request", "fn")
ActionName = Literal[
    "open_page",
    "view_rules",
    "login",
    "complete_task",
    "open_envelope",
    "open_invite_envelope",
    "grand_draw",
    "share",
    "visit_link",
    "follow",
]
OperationName = Literal["report_ban", "ledger", "link_pool", "stats", "set_clock", "slowdown", "limit_pool",
                        "topup"]

BURST = ("burst",)
ACTION_PARAMS: dict[str, tuple[str, ...]] = {
    "login": ("invite_code",),
    "complete_task": ("institution", "task"),
    "open_envelope": ("institution", *BURST),
    "open_invite_envelope": BURST,
    "grand_draw": BURST,
    "visit_link": ("url",),
}
"""The params each action's steps carry ({params.…} in its mapping); other actions carry none."""
OPERATION_PARAMS = ("ops_token", "domain", "t", "speed", "pool", "left_fen", "amount_fen", "left_yuan",
                    "amount_yuan", "otp", "operator", "actions", "factor", "duration")
"""The params the harness passes to operations hooks (each hook gets the ones it needs); every
`X_fen` also as `X_yuan`, the same money as an exact decimal string ("14.40")."""
PAYOUT_UNITS = {"fen": Decimal(1), "yuan": Decimal(100)}
EXTRACT_SOURCES = ("header", "cookie")
TRANSFORMS = ("host", "path", "regex")


def template_fields(text: str) -> list[str]:
    """The field names a template refers to, e.g. ["user.phone"] for "{user.phone}"."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ValueError(f"template {text!r} does not parse: {exc}") from None


def _check_templates(value: Any) -> None:
    if isinstance(value, str):
        for name in template_fields(value):
            root = name.split(".")[0].split("[")[0]
            if root not in TEMPLATE_ROOTS:
                raise ValueError(
                    f"template {value!r} refers to {{{name}}}; a template may use only "
                    f"{', '.join('{' + r + '.…}' for r in TEMPLATE_ROOTS)}"
                )
    elif isinstance(value, dict):
        for item in value.values():
            _check_templates(item)
    elif isinstance(value, list):
        for item in value:
            _check_templates(item)


def templates_in(value: Any, where: str) -> list[tuple[str, str]]:
    """(where, template) for every string in a request's parts."""
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, dict):
        return [t for key, item in value.items() for t in templates_in(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [t for n, item in enumerate(value) for t in templates_in(item, f"{where}.{n}")]
    return []


def fields_used(request: "HttpRequest", root: str, shared_headers: dict[str, str] | None = None) -> set[str]:
    """The fields under `root` a request's templates name (with the target's headers, sent with
    it): {"sign"} for root "fn" and a body holding "{fn.sign}"."""
    texts = [text for part in ("path", "query", "headers", "body")
             for _, text in templates_in(getattr(request, part), part)] + list((shared_headers or {}).values())
    return {name.partition(".")[2].split(".")[0] for text in texts for name in template_fields(text)
            if name.partition(".")[0] == root}


def _known_fields(session_keys: set[str], functions: set[str]) -> dict[str, list[str]]:
    """The fields a template may name under each root (params: per action, see ACTION_PARAMS)."""
    from rehearse.personas.identity import Identity  # the identity is what {user.…} reads

    return {"user": sorted(f.name for f in dataclasses.fields(Identity)),
            "link": ["domain", "path", "url"],
            "session": sorted(session_keys),
            "step": ["id"],
            "request": ["id"],
            "fn": sorted(functions)}


FIXES = {"session": "add it to some action's extract, or use one of those",
         "fn": "add it to target.functions, or use one of those"}


def _check_fields(where: str, template: str, known: dict[str, list[str]]) -> None:
    for name in template_fields(template):
        root, _, rest = name.partition(".")
        field = rest.split(".")[0].split("[")[0]
        if root in known and field and field not in known[root]:
            given = ", ".join(known[root]) or "none"
            raise ValueError(f"{where}: template {template!r} refers to {{{name}}}, but {root} has no "
                             f"field {field!r} (known: {given}); {FIXES.get(root, 'use one of those')}")


def import_named(name: str, what: str) -> Any:
    """The object a `module:attribute` name points to; a one-line ValueError if there is none.
    Modules are found on PYTHONPATH and in the current folder (as `python -m` would)."""
    module_name, _, attribute = name.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an import error, or the module failed while loading
        raise ValueError(f"{what} {name}: cannot import {module_name} ({type(exc).__name__}: {exc}); "
                         "run from the folder that holds it, or add that folder to PYTHONPATH") from None
    found = getattr(module, attribute, None)
    if found is None:
        raise ValueError(f"{what} {name}: {module_name} has no {attribute}")
    return found


class Condition(Section):
    """A test on the answer: the value at a body `path` (dotted, in the JSON) or of a `header`
    equals a value, is in a list, or exists (is present and not null)."""

    path: Annotated[str, Field(min_length=1)] | None = None
    header: Annotated[str, Field(min_length=1)] | None = None
    equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    exists: bool | None = None

    model_config = {**Section.model_config, "populate_by_name": True}

    @model_validator(mode="after")
    def _one_test(self) -> "Condition":
        if (self.path is None) == (self.header is None):
            raise ValueError("a condition names either a body path (path: code) or a header (header: NAME)")
        given = [k for k in ("equals", "in_", "exists") if getattr(self, k) is not None
                 or k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(f"a condition on {self.path or self.header!r} needs exactly one of equals, in, "
                             f"exists (given: {', '.join(g.rstrip('_') for g in given) or 'none'})")
        return self


def _as_list(value: Any) -> Any:
    """A single condition may be written without the list around it."""
    return [value] if isinstance(value, dict) else value


Conditions = list[Condition]
PayoutUnit = Literal["fen", "yuan"] | Annotated[float, Field(gt=0, le=1e9)]


def unit_factor(unit: str | float) -> Decimal:
    """Fen per unit of a payout_unit: fen 1, yuan 100, or the number given."""
    return PAYOUT_UNITS[unit] if isinstance(unit, str) else Decimal(str(unit))


def parse_extract(spec: str) -> tuple[str, str, list[tuple[str, str]]]:
    """(source, name, transforms) of an extract: "data.token" (a body path), "header:X-Token",
    "cookie:SID", each optionally followed by "| host", "| path" or "| regex:PATTERN"."""
    source_part, *transform_parts = [p.strip() for p in spec.split("|")]
    source, sep, name = source_part.partition(":")
    if not sep or source not in EXTRACT_SOURCES:
        source, name = "body", source_part
    if not name:
        raise ValueError(f"extract {spec!r} names nothing to read; write a body path (data.token), "
                         "header:NAME or cookie:NAME")
    transforms = []
    for part in transform_parts:
        kind, _, argument = part.partition(":")
        if kind not in TRANSFORMS:
            raise ValueError(f"extract {spec!r}: unknown transform {part!r}; use host, path or regex:PATTERN")
        if kind == "regex":
            try:
                re.compile(argument)
            except re.error as exc:
                raise ValueError(f"extract {spec!r}: regex {argument!r} does not compile ({exc})") from None
        transforms.append((kind, argument))
    return source, name, transforms


class Judging(Section):
    """How an answer is judged, beyond its status; set on the target, overridden per action."""

    ok_when: Conditions | None = Field(default=None, description="every condition holds: done")
    refused_when: Conditions | None = Field(default=None, description="any condition holds: refused")
    throttled_when: Conditions | None = Field(
        default=None, description="any condition holds: refused for going too fast (a rate limit, which "
        "any caller may meet; HTTP 429 always is)")
    replayed_when: Conditions | None = Field(
        default=None, description="any condition holds: the answer repeats an earlier one (an idempotent "
        "replay): done, and nothing new paid")
    reason: str | None = Field(default=None, description="body path of a refusal's reason "
                               "(default: error, then msg, message, detail)")
    payout_unit: PayoutUnit | None = Field(default=None, description="fen, yuan, or fen per unit")

    _lists = field_validator("ok_when", "refused_when", "throttled_when", "replayed_when",
                             mode="before")(_as_list)


class HttpRequest(Judging):
    """One action as an HTTP request, and how to read its response."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: Annotated[str, Field(pattern=r"^(/|\{)")]
    query: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | None = None
    extract: dict[str, str] = Field(
        default_factory=dict, description="session key: a body path, header:NAME or cookie:NAME, "
        "then | host, | path or | regex:PATTERN"
    )
    payout_field: str | None = Field(
        default=None, description="dotted path of the amount paid in the response (see payout_unit)"
    )
    refused: list[Annotated[int, Field(ge=100, le=599)]] | None = Field(
        default=None, description="statuses that mean 'refused by the rules'; default: target's"
    )
    link_host: bool = Field(default=False, description="send the link's domain as Host header")
    follow_redirects: bool | None = Field(
        default=None, description="follow this action's redirects (on the target only); default: target's")

    @model_validator(mode="after")
    def _templates(self) -> "HttpRequest":
        _check_templates(self.path)
        _check_templates(self.query)
        _check_templates(self.headers)
        _check_templates(self.body)
        for key, spec in self.extract.items():
            try:
                parse_extract(spec)
            except ValueError as exc:
                raise ValueError(f"extract.{key}: {exc}") from None
        return self


class Target(Judging):
    """How the harness talks to a campaign backend: a declarative mapping, or an adapter class."""

    adapter: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="module:Class"
    )
    headers: dict[str, str] = Field(default_factory=dict)
    refused: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=lambda: [403, 409, 423, 429]
    )
    cookies: bool = Field(default=True, description="each participant keeps its own cookie jar")
    follow_redirects: bool = Field(
        default=False, description="follow redirects on the target's own host and port (never elsewhere); "
        "off: a redirect is the answer, judged like any other")
    functions: dict[Annotated[str, Field(pattern=r"^[A-Za-z_]\w*$")],
                    Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]] = Field(
        default_factory=dict, description="name: module:function, callable from templates as {fn.name}")
    actions: dict[ActionName, HttpRequest] = Field(default_factory=dict)
    operations: dict[OperationName, HttpRequest] = Field(default_factory=dict)
    allow_remote_hosts: list[str] = Field(default_factory=list)

    @field_validator("headers")
    @classmethod
    def _header_templates(cls, headers: dict[str, str]) -> dict[str, str]:
        _check_templates(headers)
        return headers

    @model_validator(mode="after")
    def _fields_exist(self) -> "Target":
        """A misspelt field ({user.phnoe}) would send nothing, silently: refuse it here."""
        extracted = {key for request in self.actions.values() for key in request.extract}
        known = _known_fields(extracted, set(self.functions))
        if self.adapter is not None:
            known.pop("session")  # an adapter keeps its own session
        every_param = sorted({p for params in ACTION_PARAMS.values() for p in params} | set(OPERATION_PARAMS))
        for key, value in self.headers.items():  # sent with every request: any step's params
            _check_fields(f"target.headers.{key}", value, {**known, "params": every_param})
        for section, mapping in (("actions", self.actions), ("operations", self.operations)):
            for name, request in mapping.items():
                params = OPERATION_PARAMS if section == "operations" else ACTION_PARAMS.get(name, ())
                fields = {**known, "params": sorted(params)}
                for part in ("path", "query", "headers", "body"):
                    for where, template in templates_in(getattr(request, part), f"target.{section}.{name}.{part}"):
                        _check_fields(where, template, fields)
        return self

    @model_validator(mode="after")
    def _importable(self) -> "Target":
        """An adapter or function that cannot be imported fails here, before any traffic."""
        if self.adapter is not None:
            import_named(self.adapter, "adapter")
        for name, where in self.functions.items():
            if not callable(import_named(where, f"functions.{name}")):
                raise ValueError(f"functions.{name} {where}: not a function")
        return self

    def judging(self, request: HttpRequest) -> Judging:
        """The judging rules of one request: its own, else the target's."""
        values = {k: getattr(request, k) if getattr(request, k) is not None else getattr(self, k)
                  for k in Judging.model_fields}
        return Judging(**values)

    def missing_actions(self, offered: tuple[str, ...]) -> list[str]:
        """The offered actions this target cannot send: none with an adapter, else every offered
        action without a request under `actions` (an action the campaign does not offer needs none)."""
        if self.adapter is not None:
            return []
        return [a for a in offered if a not in self.actions]
