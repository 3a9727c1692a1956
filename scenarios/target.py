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
`payout_unit` (fen, yuan or fen per unit: units times a value), exactly, rounded to the nearest
fen (halves away from zero); or every ok answer pays `payout_fixed_fen` (one unit of a sale, a
success flag judged by `ok_when`).
"""

from __future__ import annotations

import importlib
import inspect
import ipaddress
import os
import re
import reprlib
import string
import sys
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from rehearse.scenarios.base import MAX_FEN, FieldError, Section

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


def slug(value: object) -> str:
    """Lower case, each run of other characters one "-": "harness/prober-4" -> "harness-prober-4"."""
    return re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-")


FILTERS = {
    "slug": slug,
    "email": lambda value: f"{slug(value) or 'participant'}@example.com",  # a valid, reserved-domain address
    "lower": lambda value: str(value).lower(),
    "upper": lambda value: str(value).upper(),
}
"""What `{root.field|filter}` does to a value before it is sent (several apply left to right)."""
FILTER_NAMES = tuple(FILTERS)


def template_fields(text: str) -> list[str]:
    """The field names a template refers to, e.g. ["user.phone"] for "{user.phone}" (and for
    "{user.phone|slug}": filters are not part of the name)."""
    try:
        return [name.split("|")[0].strip() for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ValueError(f"template {text!r} does not parse: {exc}") from None


DEEP_ROOTS = ("session", "params")
"""The roots whose fields may hold values of their own ({session.profile.id}: an extract gave a mapping)."""
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
"""An HTTP header name is a token (RFC 9110): no spaces, colons, line breaks or other separators."""
PLAIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
"""A session key (what `extract` names, what {session.NAME} reads): no dots, no leading _ (the
harness's own keys, such as the cookie jar)."""
SHARE_LINK_PATH = "{link.path}"
"""The one path template that may begin with a field: the share link's path, which the harness
makes from the link (always beginning with /) and sends to --host, never to the link's host."""


def check_template(loc: tuple[str | int, ...], text: str) -> None:
    """A template the contract fills as it is: it parses, and each field is {root.field} under a
    known root, with no format spec or conversion; a FieldError at `loc` otherwise."""
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise FieldError(loc, f"template {text!r} does not parse ({exc}); write {{{{ and }}}} for a "
                              "literal brace") from None
    for _, name, spec, conversion in pieces:
        if name is None:
            continue
        plain = f"{{{name}}}"
        if conversion is not None:
            raise FieldError(loc, f"template {text!r} has a conversion '!{conversion}'; templates fill "
                                  f"values as they are: write {plain}")
        if spec:
            raise FieldError(loc, f"template {text!r} has a format spec ':{spec}'; templates fill values "
                                  f"as they are: write {plain}")
        field, *filters = name.split("|")
        for f in filters:
            if f.strip() not in FILTER_NAMES:
                raise FieldError(loc, f"template {text!r} names the filter |{f.strip()}; a field may be passed "
                                      f"through {', '.join('|' + n for n in FILTER_NAMES)}")
        _check_field_name(loc, text, field.strip())


def _check_field_name(loc: tuple[str | int, ...], text: str, name: str) -> None:
    """{root.field}: a known root, then dotted names (no [index], nothing empty)."""
    root, _, rest = name.partition(".")
    if "[" in name or "]" in name:
        raise FieldError(loc, f"template {text!r} indexes with [...] in {{{name}}}; templates name "
                              f"fields with dots only, e.g. {{{root.split('[')[0]}.FIELD}}")
    if root not in TEMPLATE_ROOTS:
        raise FieldError(loc, f"template {text!r} refers to {{{name}}}; a template may use only "
                              f"{', '.join('{' + r + '.…}' for r in TEMPLATE_ROOTS)}")
    parts = rest.split(".") if rest else []
    if not parts or not all(p.strip() for p in parts):
        raise FieldError(loc, f"template {text!r} names no field of {root} in {{{name}}}; write "
                              f"{{{root}.FIELD}}, e.g. {_EXAMPLES[root]}")
    if len(parts) > 1 and root not in DEEP_ROOTS:
        raise FieldError(loc, f"template {text!r}: {{{name}}} reaches inside {root}.{parts[0]}, which "
                              f"holds a plain value; write {{{root}.{parts[0]}}}")


_EXAMPLES = {"user": "{user.phone}", "session": "{session.token}", "params": "{params.institution}",
             "link": "{link.path}", "step": "{step.id}", "request": "{request.id}", "fn": "{fn.sign}"}


def check_path(path: str) -> str:
    """A request path is appended to --host: it begins with one literal "/" (or is the share
    link's own path), so no template can send traffic to a host the target names."""
    if not path.startswith(SHARE_LINK_PATH) and (not path.startswith("/") or path.startswith("//")):
        raise ValueError(f"path {path!r} must begin with a single '/': the path is appended to --host and "
                         "may not name a host (a URL, //host or a template first); write /api/..., with "
                         f"templates after the first '/' (a share link's own path: {SHARE_LINK_PATH})")
    bad = next((ch for ch in path if ch.isspace() or ord(ch) < 32 or ord(ch) == 127), None)
    if bad is not None:
        raise ValueError(f"path {path!r} holds {bad!r}; a path has no spaces or control characters: "
                         "percent-encode it (%20)")
    return path


def check_headers(loc: tuple[str | int, ...], headers: dict[str, str]) -> None:
    """Header names are HTTP tokens; values (templates: their text) hold no CR, LF or NUL, which
    would end the header and start another (a request split in two). A FieldError at the header."""
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            raise FieldError((*loc, name), f"header name {name!r} is not an HTTP token (letters, digits and "
                             "!#$%&'*+-.^_`|~; no spaces, colons or line breaks); write it like X-Device-Id")
        bad = next((ch for ch in value if ch in "\r\n\0"), None)
        if bad is not None:
            raise FieldError((*loc, name), f"value {value!r} holds {bad!r}, which would end the header and "
                                           "split the request; remove it")


def templates_in(value: Any, where: str) -> list[tuple[str, str]]:
    """(where, template) for every string in a request's parts."""
    return [(".".join(map(str, (where, *loc))), text) for loc, text in templates_at(value)]


def templates_at(value: Any, loc: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    """(location, template) for every string in a request's part, each location a key path."""
    if isinstance(value, str):
        return [(loc, value)]
    if isinstance(value, dict):
        return [t for key, item in value.items() for t in templates_at(item, (*loc, key))]
    if isinstance(value, list):
        return [t for n, item in enumerate(value) for t in templates_at(item, (*loc, n))]
    return []


def fields_used(request: "HttpRequest", root: str, shared_headers: dict[str, str] | None = None) -> set[str]:
    """The fields under `root` a request's templates name (with the target's headers, sent with
    it): {"sign"} for root "fn" and a body holding "{fn.sign}"."""
    texts = [text for part in ("path", "query", "headers", "body")
             for _, text in templates_in(getattr(request, part), part)] + list((shared_headers or {}).values())
    return {name.partition(".")[2].split(".")[0] for text in texts for name in template_fields(text)
            if name.partition(".")[0] == root}


USER_FIELDS = ("persona", "user_key", "key", "phone", "name", "channel", "ip", "device_id", "email",
               "arrival_t", "invite_code", "link", "operator")
"""What {user.…} may name: the fields of a participant's identity (personas/identity.py's
`Identity`, which a test holds to this list)."""


def _known_fields(session_keys: set[str], functions: set[str]) -> dict[str, list[str]]:
    """The fields a template may name under each root (params: per action, see ACTION_PARAMS)."""
    return {"user": sorted(USER_FIELDS),
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
    Modules are found on PYTHONPATH and in the current folder (as `python -m` would). A module
    that fails while loading, sys.exit() included, is reported; Ctrl-C is not caught."""
    module_name, _, attribute = name.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
        found = getattr(module, attribute, _NOTHING)
    except SystemExit as exc:  # a script's `sys.exit()` at import would end the harness silently
        raise ValueError(f"{what} {name}: cannot import {module_name}: it called sys.exit({exc.code!r}) while "
                         "loading; keep the module's top level free of sys.exit (guard it with "
                         "if __name__ == '__main__')") from None
    except Exception as exc:  # an import error, or the module failed while loading
        raise ValueError(f"{what} {name}: cannot import {module_name} ({_raised(exc)}); "
                         "run from the folder that holds it, or add that folder to PYTHONPATH") from None
    if found is _NOTHING:
        raise ValueError(f"{what} {name}: {module_name} has no {attribute}")
    return found


_NOTHING = object()
CONTRACT_METHODS = ("build", "read")
"""What every adapter offers (rehearse.client.contract.Contract)."""


def _raised(exc: BaseException) -> str:
    """An exception in a few words on one line: `TypeError: x`, `sys.exit(3)`."""
    if isinstance(exc, SystemExit):
        return f"sys.exit({exc.code!r})"
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def _described(found: Any) -> str:
    """What an imported name turned out to be, e.g. "it is an int (5)"."""
    kind = "class" if inspect.isclass(found) else type(found).__name__
    shown = getattr(found, "__qualname__", None) if callable(found) else None
    return f"it is {'an' if kind[:1] in 'aeiou' else 'a'} {kind} ({shown or reprlib.repr(found)})"


def adapter_class(name: str) -> type:
    """The adapter class a `module:Class` name points to, with the contract's methods."""
    found = import_named(name, "adapter")
    if not inspect.isclass(found):
        raise ValueError(f"adapter {name}: {_described(found)}, not a class; name a class with build() and "
                         "read() (see rehearse.client.contract.Contract)")
    missing = [f"{m}()" for m in CONTRACT_METHODS if not callable(getattr(found, m, None))]
    if missing:
        raise ValueError(f"adapter {name}: the class has no {' and no '.join(missing)}; give it "
                         "build(act, user, session, step_id) and read(act, status, body, latency_ms, headers) "
                         "(see rehearse.client.contract.Contract), or subclass DeclarativeContract")
    return found


def make_adapter(target: "Target") -> Any:
    """The target's adapter, built with the target; a one-line ValueError if it cannot be."""
    name = target.adapter or ""
    adapter = adapter_class(name)
    try:
        instance = adapter(target)
    except (Exception, SystemExit) as exc:  # its own __init__ failed: say so in one line, not a traceback
        raise ValueError(f"target.adapter: {name}(target) raised {_raised(exc)}; fix the class's "
                         "__init__(self, target) (it is given the scenario's target section)") from None
    missing = [f"{m}()" for m in CONTRACT_METHODS if not callable(getattr(instance, m, None))]
    if missing:
        raise ValueError(f"target.adapter: {name}(target) has no {' and no '.join(missing)} once built; "
                         "keep the methods callable (see rehearse.client.contract.Contract)")
    return instance


def _is_host(host: str) -> bool:
    """A host as urlsplit gives it: a lower-case DNS name, or an IP address."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOST.match(host))


_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?)*$")


class Condition(Section):
    """A test on the answer: the value at a body `path` (dotted, in the JSON) or of a `header`
    equals a value, is in a list, or exists (is present and not null)."""

    path: Annotated[str, Field(min_length=1)] | None = None
    header: Annotated[str, Field(min_length=1)] | None = None
    equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    exists: bool | None = None

    model_config = {**Section.model_config, "populate_by_name": True}

    @field_validator("header")
    @classmethod
    def _token(cls, header: str | None) -> str | None:
        if header is not None and not HEADER_NAME.match(header):
            raise ValueError(f"header {header!r} is not an HTTP header name (a token: letters, digits and "
                             "!#$%&'*+-.^_`|~), so no answer could carry it; write it like Idempotent-Replayed")
        return header

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
    if source != "body" and not HEADER_NAME.match(name):
        raise ValueError(f"extract {spec!r}: {name!r} is not a {source} name (a token: letters, digits and "
                         "!#$%&'*+-.^_`|~), so no answer could carry it; write it like X-Token")
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
    path: Annotated[str, Field(min_length=1, description="begins with /: appended to --host")]
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
    payout_fixed_fen: Annotated[int, Field(ge=1, le=MAX_FEN)] | None = Field(
        default=None, description="an ok answer pays this many fen (a sale's unit price, a fixed reward); "
        "with ok_when for a success flag, e.g. {path: success, equals: true}")
    refused: list[Annotated[int, Field(ge=100, le=599)]] | None = Field(
        default=None, description="statuses that mean 'refused by the rules'; default: target's"
    )
    link_host: bool = Field(default=False, description="send the link's domain as Host header")
    follow_redirects: bool | None = Field(
        default=None, description="follow this action's redirects (on the target only); default: target's")

    _path = field_validator("path")(check_path)

    @model_validator(mode="after")
    def _one_payout(self) -> "HttpRequest":
        if self.payout_field is not None and self.payout_fixed_fen is not None:
            raise ValueError("payout_field and payout_fixed_fen both given: give payout_field (the amount read "
                             "from the answer) or payout_fixed_fen (the same amount for every ok answer), not both")
        return self

    @field_validator("extract")
    @classmethod
    def _extracts_parse(cls, extract: dict[str, str]) -> dict[str, str]:
        for key, spec in extract.items():
            if not PLAIN_NAME.match(key):
                raise ValueError(f"extract.{key}: {key!r} is no session key; a key is a plain name (letters, "
                                 "digits, _ and -, beginning with a letter), as {session.NAME} reads it")
            try:
                parse_extract(spec)
            except ValueError as exc:
                raise ValueError(f"extract.{key}: {exc}") from None
        return extract


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

    @field_validator("allow_remote_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        for n, host in enumerate(hosts):
            if not _is_host(host):
                raise FieldError(("target", "allow_remote_hosts", n), f"{host!r} is not a host name; write the host alone, in lower case, as "
                                 "--host names it (api.example.com or 10.0.0.5): no scheme, port or path")
        return hosts

    @field_validator("adapter")
    @classmethod
    def _adapter_is_a_contract(cls, adapter: str | None) -> str | None:
        if adapter is not None:
            adapter_class(adapter)
        return adapter

    @field_validator("functions")
    @classmethod
    def _functions_are_functions(cls, functions: dict[str, str]) -> dict[str, str]:
        """A function that cannot be imported, or is no function, fails here, before any traffic."""
        for name, where in functions.items():
            found = import_named(where, f"functions.{name}")
            if inspect.isclass(found) or not callable(found):
                raise ValueError(f"functions.{name} {where}: {_described(found)}, not a function; name a "
                                 "function of one argument (module:function)")
        return functions

    @model_validator(mode="after")
    def _requests_sound(self) -> "Target":
        """Every header is one header, every template parses and names {root.field} with nothing
        to format (it is filled as it is); a FieldError at the header or template otherwise."""
        check_headers(("target", "headers"), self.headers)
        for key, value in self.headers.items():
            check_template(("target", "headers", key), value)
        for where, request in self.requests():
            loc = tuple(where.split("."))
            check_headers((*loc, "headers"), request.headers)
            for part in ("path", "query", "headers", "body"):
                for at, template in templates_at(getattr(request, part), (*loc, part)):
                    check_template(at, template)
        return self

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
    def _adapter_builds(self) -> "Target":
        """The adapter is built once with this target, so one whose __init__ fails fails here."""
        if self.adapter is not None:
            make_adapter(self)
        return self

    def requests(self) -> list[tuple[str, HttpRequest]]:
        """("target.actions.NAME" or "target.operations.NAME", request) for every mapped request."""
        return [(f"target.{section}.{name}", request)
                for section, mapping in (("actions", self.actions), ("operations", self.operations))
                for name, request in mapping.items()]

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
