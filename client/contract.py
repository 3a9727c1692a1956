"""The target contract client (contract 2): an abstract action in, an HTTP request out, and
the answer back as an Outcome. Pure: no I/O, so every engine (Locust, the httpx
walkthrough) and every test drives the same code.

    contract = load_contract(scenario.target)
    request = contract.build(Act("open_envelope", institution="anhe"), user, session, step_id)
    ...send it with any HTTP client...
    outcome, learned = contract.read(act, status, body, latency_ms, headers)
    remember(session, learned)             # rehearse.client.templates

A session is one participant's: what its answers gave (`extract`) and its cookie jar, so two
participants played by the same engine user never share a login.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping, Protocol

from rehearse.client.answers import Extract, Link, holds
from rehearse.client.errors import ContractError
from rehearse.client.money import books_in_fen, fen_of
from rehearse.client.templates import COOKIES, MISSING, Compiled, compile_template, dig, set_cookies
from rehearse.personas.identity import PhoneMask
from rehearse.personas.steps import THROTTLED, Act, Outcome, replay_note
from rehearse.scenarios.target import (
    Condition,
    HttpRequest,
    Target,
    import_named,
    make_adapter,
    fields_used,
    unit_factor,
)


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
    """What engines need of a target: build a request, read its answer. `headers` is the
    answer's headers (any mapping with get; a get_list/getlist for repeated ones), or None."""

    def build(self, act: Act, user: Any, session: Mapping[str, Any], step_id: str = "") -> RequestSpec: ...

    def read(self, act: Act, status: int, body: bytes, latency_ms: float,
             headers: Any = None) -> tuple[Outcome, dict[str, Any]]: ...


DEFAULT_REASONS = ("error", "msg", "message", "detail")
"""Where a refusal's reason is looked for when the mapping names no `reason`."""

@dataclass(frozen=True)
class Call:
    """What a template function ({fn.NAME}) is given: the request as built so far (with the
    values of the functions called before it, in `target.functions` order, and without the
    fields of the others) and where it comes from."""

    action: str
    user: Any
    session: Mapping[str, Any]
    params: Mapping[str, Any]
    step_id: str
    request_id: str
    method: str
    path: str
    query: Mapping[str, Any]
    body: Any
    headers: Mapping[str, str]
    fn: Mapping[str, Any] = field(default_factory=dict)  # the values of the functions called before it


@dataclass(frozen=True)
class _CompiledRequest:
    request: HttpRequest
    path: Compiled
    query: Compiled
    headers: Compiled
    body: Compiled | None
    refused: frozenset[int]
    extract: tuple[Extract, ...]
    ok_when: tuple[Condition, ...]
    refused_when: tuple[Condition, ...]
    replayed_when: tuple[Condition, ...]
    throttled_when: tuple[Condition, ...]
    reasons: tuple[str, ...]
    unit: Decimal
    functions: tuple[str, ...]  # the {fn.NAME} this request calls
    uses_request: bool  # it names {request.id}: one is made per request
    needs_body: bool  # a 2xx answer is read only if something in it is extracted, paid or judged
    needs_headers: bool  # cookies or header extracts


class DeclarativeContract:
    """The scenario's `target` mapping, interpreted (templates compiled once per action).

    Also the base of an adapter for a backend the mapping cannot express in full: subclass it,
    override `build`/`read` for the odd action and call `super()` for the rest (the actions the
    subclass handles itself need no mapping)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._compiled: dict[str, _CompiledRequest] = {}
        self._functions = {name: import_named(where, f"target.functions.{name}")
                           for name, where in target.functions.items()}
        self._request_ids = itertools.count(1)
        self._run = uuid.uuid4().hex[:8]  # request ids unique across processes and runs

    def _compile(self, action: str, request: HttpRequest) -> _CompiledRequest:
        """The request's templates compiled once (actions by name, operations as "ops:name")."""
        compiled = self._compiled.get(action)
        if compiled is None:
            judging = self.target.judging(request)
            extract = tuple(Extract.parse(key, spec) for key, spec in request.extract.items())
            conditions = (*(judging.ok_when or ()), *(judging.refused_when or ()), *(judging.replayed_when or ()),
                          *(judging.throttled_when or ()))
            reasons = (judging.reason,) if judging.reason else DEFAULT_REASONS
            compiled = _CompiledRequest(
                request=request, path=compile_template(request.path),
                query=compile_template(request.query),
                headers=compile_template({**self.target.headers, **request.headers}),
                body=compile_template(request.body) if request.body is not None else None,
                refused=frozenset(request.refused or self.target.refused),
                extract=extract, ok_when=tuple(judging.ok_when or ()),
                refused_when=tuple(judging.refused_when or ()),
                replayed_when=tuple(judging.replayed_when or ()),
                throttled_when=tuple(judging.throttled_when or ()), reasons=reasons,
                unit=unit_factor(judging.payout_unit or "fen"),
                functions=tuple(f for f in self.target.functions
                                if f in fields_used(request, "fn", self.target.headers)),
                uses_request=bool(fields_used(request, "request", self.target.headers)),
                needs_body=bool(any(e.source == "body" for e in extract) or request.payout_field
                                or any(k.path is not None for k in conditions)),
                needs_headers=(self.target.cookies or any(e.source != "body" for e in extract)
                               or any(k.header is not None for k in conditions)))
            self._compiled[action] = compiled
        return compiled

    def refusal_statuses(self, action: str) -> frozenset[int]:
        """Statuses that mean 'refused by the rules' for this action."""
        return self._compile(action, self.mapping(action)).refused

    def follows_redirects(self, action: str) -> bool:
        """Whether this action's redirects are followed (on the target only: client/safety.py)."""
        request = self.target.actions.get(action)  # type: ignore[call-overload]
        chosen = request.follow_redirects if request is not None else None
        return self.target.follow_redirects if chosen is None else chosen

    def keyed_by_step(self, action: str) -> bool:
        """Whether this action's request carries its step's id (`{step.id}`: an idempotency key),
        so that an answer repeated for it may be the target replaying (client/player.py)."""
        request = self.target.actions.get(action)  # type: ignore[call-overload]
        return request is not None and bool(fields_used(request, "step", self.target.headers))

    def judges_body(self, action: str) -> bool:
        """Whether an answer's body, not only its status, says if it was done (business codes)."""
        c = self._compile(action, self.mapping(action))
        return bool(c.ok_when or c.refused_when)

    def mapping(self, action: str) -> HttpRequest:
        request = self.target.actions.get(action)  # type: ignore[call-overload]
        if request is None:
            raise ContractError(f"target.actions has no mapping for {action!r}; add one to the scenario")
        return request

    def build(self, act: Act, user: Any, session: Mapping[str, Any], step_id: str = "") -> RequestSpec:
        c = self._compiled.get(act.action) or self._compile(act.action, self.mapping(act.action))
        params = act.params
        link = Link.parse(params["url"]) if "url" in params else None
        roots = {"user": user, "session": session, "params": params, "link": link, "step": {"id": step_id}}
        if c.uses_request:
            roots["request"] = {"id": self._request_id()}
        spec = self._fill(c, act.action, roots) if c.functions else self._filled(c, act.action, roots)
        if link is not None and c.request.link_host:
            spec.host = link.domain
        jar = session.get(COOKIES) if self.target.cookies else None
        if jar:
            cookie = "; ".join(f"{name}={value}" for name, value in jar.items())
            given = spec.headers.get("Cookie")
            spec.headers["Cookie"] = f"{given}; {cookie}" if given else cookie
        return spec

    def _request_id(self) -> str:
        return f"{self._run}-{next(self._request_ids)}"

    def _fill(self, c: _CompiledRequest, name: str, roots: dict[str, Any]) -> RequestSpec:
        """The request with its templates filled: built first without the fields that call
        functions, the functions called with that, then everything filled again with their values."""
        roots.setdefault("request", {"id": self._request_id()})
        roots["fn"] = {}
        spec = self._filled(c, name, roots)
        for fn in c.functions:  # in target.functions' order, each seeing the values filled before it
            call = Call(name, roots["user"], roots["session"], roots["params"], roots["step"]["id"],
                        roots["request"]["id"], spec.method, spec.path, spec.query, spec.json, spec.headers,
                        dict(roots["fn"]))
            roots["fn"][fn] = self._functions[fn](call)
            spec = self._filled(c, name, roots)
        return spec

    def _filled(self, c: _CompiledRequest, name: str, roots: Mapping[str, Any]) -> RequestSpec:
        path = c.path(roots)
        if path is MISSING:
            where = f"operations.{name[4:]}" if name.startswith("ops:") else f"actions.{name}"
            raise ContractError(f"target.{where}.path needs a value this step does not have: {c.request.path}")
        headers = c.headers(roots)
        for key, value in headers.items():
            if type(value) is not str:
                headers[key] = str(value)
        body = c.body(roots) if c.body is not None else None
        return RequestSpec(name.removeprefix("ops:"), c.request.method, str(path), c.query(roots), headers,
                           None if body is MISSING else body)

    def build_operation(self, name: str, params: Mapping[str, Any]) -> RequestSpec | None:
        """An operations call (report_ban, ledger, ...), or None if the target maps none."""
        request = self.target.operations.get(name)  # type: ignore[call-overload]
        if request is None:
            return None
        c = self._compile(f"ops:{name}", request)
        params = {**params, **{f"{k[:-4]}_yuan": f"{Decimal(v) / 100:.2f}" for k, v in params.items()
                               if k.endswith("_fen") and isinstance(v, int) and not isinstance(v, bool)}}
        roots = {"params": params, "session": {}, "user": None, "link": None, "step": {"id": ""},
                 "request": {"id": self._request_id()}}
        return self._fill(c, f"ops:{name}", roots)

    def read_operation(self, name: str, status: int, body: bytes, headers: Any = None) -> dict[str, Any] | None:
        """The values an operation's `extract` names (a list counts as its length); None if it failed."""
        request = self.target.operations.get(name)  # type: ignore[call-overload]
        if request is None or not 200 <= status < 300:
            return None
        try:
            decoded = json.loads(body) if body else None
        except ValueError:
            return None
        c = self._compile(f"ops:{name}", request)
        if (any(holds(k, decoded, headers) for k in c.refused_when)
                or not all(holds(k, decoded, headers) for k in c.ok_when)):
            return None
        values = {}
        cookies = set_cookies(headers) if headers is not None else {}
        # the back office's money unit is the operation's own (never the target's: the answers
        # players see and the books often count differently)
        factor = unit_factor(request.payout_unit) if request.payout_unit is not None else None
        for extract in c.extract:
            value = extract.value(decoded, headers, cookies)
            value = len(value) if isinstance(value, list) else value
            values[extract.key] = value if factor is None else books_in_fen(extract.key, value, factor)
        return values

    def read(self, act: Act, status: int, body: bytes, latency_ms: float,
             headers: Any = None) -> tuple[Outcome, dict[str, Any]]:
        c = self._compiled.get(act.action) or self._compile(act.action, self.mapping(act.action))
        ok = 200 <= status < 300
        decoded = None
        if body and (c.needs_body or not ok):  # decode only what is read
            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = None
        learned: dict[str, Any] = {}
        cookies = set_cookies(headers) if c.needs_headers and headers is not None else {}
        if cookies and self.target.cookies:
            learned[COOKIES] = cookies
        throttled = bool(c.throttled_when) and any(holds(k, decoded, headers) for k in c.throttled_when)
        # a server error is broken whatever its body says: body refusals hold for 2xx and 4xx
        refused = status < 500 and (throttled or (bool(c.refused_when)
                                                  and any(holds(k, decoded, headers) for k in c.refused_when)))
        if refused or not ok:
            refused = refused or status in c.refused
            reason = self._reason(c, decoded)
            if throttled:
                reason = f"{THROTTLED}: {reason or f'HTTP {status}'}"
            return Outcome(False, status, latency_ms, refused, 0, learned,
                           reason or f"HTTP {status}"), learned
        if c.ok_when and not all(holds(k, decoded, headers) for k in c.ok_when):
            said = self._reason(c, decoded) or ", ".join(f"{k.path or k.header}" for k in c.ok_when)
            return Outcome(False, status, latency_ms, False, 0, learned, f"not ok: {said}"), learned
        for extract in c.extract:
            value = extract.value(decoded, headers, cookies)
            if value is not None:
                learned[extract.key] = value
        payout = (c.request.payout_fixed_fen or 0 if c.request.payout_field is None
                  else fen_of(dig(decoded, c.request.payout_field), c.unit))
        if payout and c.replayed_when and any(holds(k, decoded, headers) for k in c.replayed_when):
            # the target says it paid this before: noted with its amount, for the judge to hold it to that
            return Outcome(True, status, latency_ms, False, 0, learned, replay_note(payout)), learned
        return Outcome(True, status, latency_ms, False, payout, learned, None), learned

    @staticmethod
    def _reason(c: _CompiledRequest, decoded: Any) -> str | None:
        """The refusal's reason where the mapping says it is (a code and a message both given:
        the first path that has something), with any phone number in it masked: it goes into
        the run's rows and from there into reports."""
        if type(decoded) is not dict and not isinstance(decoded, list):
            return None
        for path in c.reasons:
            value = dig(decoded, path)
            if value not in (None, ""):
                return PhoneMask()(str(value))
        return None


def follows_our_clock(contract: Contract) -> bool:
    """Whether the contract can move the target's campaign clock (it maps `set_clock`): else the
    target keeps its own, wall, clock."""
    build = getattr(contract, "build_operation", None)
    try:
        return build is not None and build("set_clock", {"t": 0.0, "speed": 1.0}) is not None
    except ContractError:  # mapped, needing a value only a run has (the ops token)
        return True


def load_contract(target: Target) -> Contract:
    """The declarative contract, or the adapter class the scenario names (module:Class), built
    with the target; whatever fails (an import, the class, its __init__) is one ContractError line."""
    try:
        return DeclarativeContract(target) if target.adapter is None else make_adapter(target)
    except ValueError as exc:
        raise ContractError(str(exc)) from None
