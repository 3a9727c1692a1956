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
from typing import Any, Mapping, Protocol
from urllib.parse import urlsplit

from personas.steps import Act, Outcome
from scenarios.errors import RehearseError
from scenarios.target import HttpRequest, Target


class ContractError(RehearseError):
    """The mapping cannot produce a request for this action (missing value, bad adapter)."""

    exit_code = 2


@dataclass(frozen=True)
class RequestSpec:
    """One HTTP request, independent of the client library that sends it."""

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


class _Missing(Exception):
    pass


def _lookup(name: str, roots: Mapping[str, Any]) -> Any:
    parts = name.split(".")
    value: Any = roots.get(parts[0])
    for part in parts[1:]:
        if value is None:
            break
        value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
    if value is None:
        raise _Missing(name)
    return value


class _Formatter(string.Formatter):
    def __init__(self, roots: Mapping[str, Any]) -> None:
        self.roots = roots

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        return _lookup(field_name, self.roots), field_name


def render(template: Any, roots: Mapping[str, Any]) -> Any:
    """Fill a template; a string that is one whole field keeps the value's type.

    Raises _Missing when a field has no value (the caller decides: drop the key, or fail)."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            try:
                out[key] = render(value, roots)
            except _Missing:
                continue  # a value with nothing to fill is left out
        return out
    if isinstance(template, list):
        return [render(item, roots) for item in template]
    if not isinstance(template, str):
        return template
    parsed = list(string.Formatter().parse(template))
    if len(parsed) == 1 and parsed[0][0] == "" and parsed[0][1] and not parsed[0][2]:
        return _lookup(parsed[0][1], roots)
    return _Formatter(roots).format(template)


def dig(body: Any, path: str) -> Any:
    """The value at a dotted path in decoded JSON (list indexes allowed), or None."""
    value = body
    for part in path.split("."):
        if isinstance(value, Mapping):
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


class DeclarativeContract:
    """The scenario's `target` mapping, interpreted."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def mapping(self, action: str) -> HttpRequest:
        request = self.target.actions.get(action)  # type: ignore[call-overload]
        if request is None:
            raise ContractError(f"target.actions has no mapping for {action!r}; add one to the scenario")
        return request

    def build(self, act: Act, user: Any, session: Mapping[str, Any]) -> RequestSpec:
        request = self.mapping(act.action)
        link = Link.parse(act.params["url"]) if act.params.get("url") else None
        roots = {"user": user, "session": session, "params": act.params, "link": link}
        try:
            path = render(request.path, roots)
        except _Missing as missing:
            raise ContractError(f"target.actions.{act.action}.path needs {{{missing}}}, which this "
                                "step does not have") from None
        headers = {k: str(v) for k, v in render({**self.target.headers, **request.headers}, roots).items()}
        body = render(request.body, roots) if request.body is not None else None
        return RequestSpec(action=act.action, method=request.method, path=str(path),
                           query=render(request.query, roots), headers=headers, json=body,
                           host=link.domain if (request.link_host and link) else None)

    def build_operation(self, name: str, params: Mapping[str, Any]) -> RequestSpec | None:
        """An operations call (report_ban, ledger, ...), or None if the target maps none."""
        request = self.target.operations.get(name)  # type: ignore[call-overload]
        if request is None:
            return None
        roots = {"params": params, "session": {}, "user": None, "link": None}
        try:
            path = render(request.path, roots)
        except _Missing as missing:
            raise ContractError(f"target.operations.{name}.path needs {{{missing}}}") from None
        headers = {k: str(v) for k, v in render({**self.target.headers, **request.headers}, roots).items()}
        body = render(request.body, roots) if request.body is not None else None
        return RequestSpec(action=name, method=request.method, path=str(path),
                           query=render(request.query, roots), headers=headers, json=body)

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
        request = self.mapping(act.action)
        try:
            decoded = json.loads(body) if body else None
        except ValueError:
            decoded = None
        ok = 200 <= status < 300
        refused = not ok and status in (request.refused or self.target.refused)
        learned = {}
        if ok:
            for key, path in request.extract.items():
                value = dig(decoded, path)
                if value is not None:
                    learned[key] = value
        payout = dig(decoded, request.payout_field) if (ok and request.payout_field) else None
        error = None
        if not ok:
            error = dig(decoded, "error") if isinstance(decoded, Mapping) else None
            error = str(error) if error else f"HTTP {status}"
        outcome = Outcome(ok=ok, status=status, latency_ms=latency_ms, refused=refused,
                          payout_fen=int(payout) if isinstance(payout, (int, float)) else 0,
                          data=dict(learned), error=error)
        return outcome, learned


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
