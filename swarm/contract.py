"""The target contract client (contract 2): an abstract action in, an HTTP request out, and
the response back as an Outcome. Pure: no I/O, so every engine (Locust, the httpx
walkthrough) and every test drives the same code.

    contract = load_contract(scenario.target)
    request = contract.build(Act("open_envelope", institution="anhe"), user, session)
    ...send it with any HTTP client...
    outcome, learned = contract.read(act, status, body, latency_ms)
    session.update(learned)
"""

from __future__ import annotations

import importlib
import json
import string
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import urlsplit

from rehearse.personas.steps import Act, Outcome
from rehearse.scenarios.errors import RehearseError
from rehearse.scenarios.target import HttpRequest, Target


class ContractError(RehearseError):
    """The mapping cannot produce a request for this action (missing value, bad adapter)."""

    exit_code = 2


@dataclass(slots=True)
class RequestSpec:
    """One HTTP request, independent of the client library that sends it (built per request,
    used once: the sender may adjust it, e.g. add the Host header)."""

    action: str
    method: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    host: str | None = None  # the Host header to send (a share link's domain)


class Contract(Protocol):
    """What engines need of a target: build a request, read a response."""

    def build(self, act: Act, user: Any, session: Mapping[str, Any]) -> RequestSpec: ...

    def read(self, act: Act, status: int, body: bytes, latency_ms: float) -> tuple[Outcome, dict[str, Any]]: ...


MISSING = object()
"""What a template with nothing to fill gives (no exception: this runs per request)."""

Compiled = Callable[[Mapping[str, Any]], Any]


class _Field:
    """A reference such as {user.phone}, resolved against the roots (dicts or objects)."""

    __slots__ = ("name", "root", "parts")

    def __init__(self, name: str) -> None:
        self.name = name
        self.root, *self.parts = name.split(".")

    def get(self, roots: Mapping[str, Any]) -> Any:
        value = roots.get(self.root)
        for part in self.parts:
            if value is None:
                return MISSING
            value = value.get(part) if type(value) is dict else getattr(value, part, None)
        return MISSING if value is None else value


def compile_template(template: Any) -> Compiled:
    """A function of the roots that fills the template; parsed once, run per request.

    A string that is one whole field keeps the value's type; in a mapping, a key whose value
    has nothing to fill is left out; anything else with a missing value gives MISSING."""
    if isinstance(template, dict):
        items = [(key, compile_template(value)) for key, value in template.items()]

        def fill_mapping(roots: Mapping[str, Any]) -> dict[str, Any]:
            out = {}
            for key, fill in items:
                value = fill(roots)
                if value is not MISSING:
                    out[key] = value
            return out
        return fill_mapping
    if isinstance(template, list):
        fills = [compile_template(item) for item in template]

        def fill_list(roots: Mapping[str, Any]) -> Any:
            values = [fill(roots) for fill in fills]
            return MISSING if any(v is MISSING for v in values) else values
        return fill_list
    if not isinstance(template, str):
        return lambda roots: template
    pieces = list(string.Formatter().parse(template))
    if all(name is None for _, name, _, _ in pieces):
        text = template.replace("{{", "{").replace("}}", "}")
        return lambda roots: text
    if len(pieces) == 1 and pieces[0][0] == "" and not pieces[0][2] and not pieces[0][3]:
        return _Field(pieces[0][1]).get
    parts = [(literal, _Field(name) if name is not None else None, spec or "", conversion)
             for literal, name, spec, conversion in pieces]

    def fill_text(roots: Mapping[str, Any]) -> Any:
        out = []
        for literal, field_ref, spec, conversion in parts:
            out.append(literal)
            if field_ref is not None:
                value = field_ref.get(roots)
                if value is MISSING:
                    return MISSING
                if conversion == "r":
                    value = repr(value)
                elif conversion == "s":
                    value = str(value)
                out.append(format(value, spec))
        return "".join(out)
    return fill_text


def dig(body: Any, path: str) -> Any:
    """The value at a dotted path in decoded JSON (list indexes allowed), or None."""
    value = body
    for part in path.split("."):
        if type(value) is dict:
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


@dataclass(frozen=True)
class Link:
    """A share link as templates see it: {link.url}, {link.domain}, {link.path}."""

    url: str
    domain: str
    path: str

    @classmethod
    def parse(cls, url: str) -> "Link":
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return cls(url=url, domain=parts.hostname or "", path=path)


@dataclass(frozen=True)
class _CompiledRequest:
    request: HttpRequest
    path: Compiled
    query: Compiled
    headers: Compiled
    body: Compiled | None
    refused: frozenset[int]
    extract: tuple[tuple[str, str], ...]
    needs_body: bool  # a 2xx answer is read only if something is extracted or paid


class DeclarativeContract:
    """The scenario's `target` mapping, interpreted (templates compiled once per action)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._compiled: dict[str, _CompiledRequest] = {}

    def _compile(self, action: str, request: HttpRequest) -> _CompiledRequest:
        """The request's templates compiled once (actions by name, operations as "ops:name")."""
        compiled = self._compiled.get(action)
        if compiled is None:
            compiled = _CompiledRequest(
                request=request, path=compile_template(request.path),
                query=compile_template(request.query),
                headers=compile_template({**self.target.headers, **request.headers}),
                body=compile_template(request.body) if request.body is not None else None,
                refused=frozenset(request.refused or self.target.refused),
                extract=tuple(request.extract.items()),
                needs_body=bool(request.extract or request.payout_field))
            self._compiled[action] = compiled
        return compiled

    def refusal_statuses(self, action: str) -> frozenset[int]:
        """Statuses that mean 'refused by the rules' for this action."""
        return self._compile(action, self.mapping(action)).refused

    def mapping(self, action: str) -> HttpRequest:
        request = self.target.actions.get(action)  # type: ignore[call-overload]
        if request is None:
            raise ContractError(f"target.actions has no mapping for {action!r}; add one to the scenario")
        return request

    def build(self, act: Act, user: Any, session: Mapping[str, Any]) -> RequestSpec:
        c = self._compiled.get(act.action) or self._compile(act.action, self.mapping(act.action))
        params = act.params
        link = Link.parse(params["url"]) if "url" in params else None
        roots = {"user": user, "session": session, "params": params, "link": link}
        path = c.path(roots)
        if path is MISSING:
            raise ContractError(f"target.actions.{act.action}.path needs a value this step does "
                                f"not have: {c.request.path}")
        headers = c.headers(roots)
        for key, value in headers.items():
            if type(value) is not str:
                headers[key] = str(value)
        body = c.body(roots) if c.body is not None else None
        return RequestSpec(act.action, c.request.method, str(path), c.query(roots), headers,
                           None if body is MISSING else body,
                           link.domain if (link is not None and c.request.link_host) else None)

    def build_operation(self, name: str, params: Mapping[str, Any]) -> RequestSpec | None:
        """An operations call (report_ban, ledger, ...), or None if the target maps none."""
        request = self.target.operations.get(name)  # type: ignore[call-overload]
        if request is None:
            return None
        c = self._compile(f"ops:{name}", request)
        roots = {"params": params, "session": {}, "user": None, "link": None}
        path = c.path(roots)
        if path is MISSING:
            raise ContractError(f"target.operations.{name}.path needs a value it was not given: "
                                f"{request.path}")
        headers = {k: str(v) for k, v in c.headers(roots).items()}
        body = c.body(roots) if c.body is not None else None
        return RequestSpec(name, request.method, str(path), c.query(roots), headers,
                           None if body is MISSING else body)

    def read_operation(self, name: str, status: int, body: bytes) -> dict[str, Any] | None:
        """The values an operation's `extract` names (a list counts as its length); None if it failed."""
        request = self.target.operations.get(name)  # type: ignore[call-overload]
        if request is None or not 200 <= status < 300:
            return None
        try:
            decoded = json.loads(body) if body else None
        except ValueError:
            return None
        values = {}
        for key, path in request.extract.items():
            value = dig(decoded, path)
            values[key] = len(value) if isinstance(value, list) else value
        return values

    def read(self, act: Act, status: int, body: bytes, latency_ms: float) -> tuple[Outcome, dict[str, Any]]:
        c = self._compiled.get(act.action) or self._compile(act.action, self.mapping(act.action))
        ok = 200 <= status < 300
        decoded = None
        if body and (c.needs_body or not ok):  # decode only what is read
            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = None
        learned: dict[str, Any] = {}
        if not ok:
            error = decoded.get("error") if type(decoded) is dict else None
            return Outcome(False, status, latency_ms, status in c.refused, 0, learned,
                           str(error) if error else f"HTTP {status}"), learned
        for key, path in c.extract:
            value = dig(decoded, path)
            if value is not None:
                learned[key] = value
        payout = dig(decoded, c.request.payout_field) if c.request.payout_field else None
        return Outcome(True, status, latency_ms, False,
                       int(payout) if isinstance(payout, (int, float)) else 0, learned, None), learned


def load_contract(target: Target) -> Contract:
    """The declarative contract, or the adapter class the scenario names (module:Class)."""
    if target.adapter is None:
        return DeclarativeContract(target)
    module_name, _, class_name = target.adapter.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ContractError(f"target.adapter {target.adapter}: cannot import {module_name} ({exc}); "
                            "is it on PYTHONPATH?") from None
    adapter = getattr(module, class_name, None)
    if adapter is None:
        raise ContractError(f"target.adapter {target.adapter}: {module_name} has no {class_name}")
    instance = adapter(target)
    for method in ("build", "read"):
        if not callable(getattr(instance, method, None)):
            raise ContractError(f"target.adapter {target.adapter}: the class needs a {method}() method "
                                "(see swarm.contract.Contract)")
    return instance
