"""The reference backend as an ASGI app: participant API under /api, operations under /ops.

Operations need the `X-Ops-Token` header (printed when the backend starts; see `rehearse
backend --help`). Every refusal answers `{"error": code, "message": ...}` with a status from
the target contract's refusal classes (403, 409, 423, 429).
"""

from __future__ import annotations

import hmac
import json
import random
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rehearse.reference_backend.clock import Clock, RunningClock
from rehearse.reference_backend.payouts import PayoutDesk
from rehearse.reference_backend.service import CampaignService, Refused, Settings
from rehearse.reference_backend.store import Store
from rehearse.scenarios import Scenario

Handler = Callable[[Request], Awaitable[Response]]


class Backend:
    """Everything one worker process of the reference backend holds."""

    def __init__(self, scenario: Scenario, db_path: str | Path, faults: frozenset[str] = frozenset(),
                 clock: Clock | None = None, seed: int | None = None,
                 settings: Settings | None = None) -> None:
        self.store = Store(db_path)
        self.store.initialise(scenario)
        self.service = CampaignService(
            scenario=scenario, store=self.store, clock=clock or RunningClock(),
            faults=faults, rng=random.Random(scenario.seed if seed is None else seed),
            settings=settings or Settings(),
        )
        self.desk = PayoutDesk(self.service)

    @property
    def ops_token(self) -> str:
        return self.store.meta("ops_token") or ""

    @property
    def otp_secret(self) -> str:
        return self.store.meta("otp_secret") or ""


def create_app(backend: Backend) -> Starlette:
    """The Starlette app serving one Backend."""
    s, desk = backend.service, backend.desk

    def endpoint(fn: Callable[[Request], Awaitable[dict] | dict],
                 guard: Callable[[Request], None], action: str = "") -> Handler:
        """A handler: run the guard, then fn (later while a drill slows `action` down); a
        refusal from either becomes its JSON answer."""
        async def handler(request: Request) -> Response:
            try:
                guard(request)
                extra = s.slowdown_s(action) if action else 0.0
                if extra:
                    await anyio.sleep(extra)
                result = fn(request)
                if hasattr(result, "__await__"):
                    result = await result
                return JSONResponse(result)
            except Refused as refused:
                return _refusal(refused)
        return handler

    def public(fn: Callable[[Request], Awaitable[dict] | dict], auth: bool = False,
               signed: bool = False, action: str = "") -> Handler:
        def guard(request: Request) -> None:
            s.check_ip(_client_ip(request))
            if auth:
                request.state.user_id = s.authenticate(_bearer(request))
            if signed:
                s.check_signature(request.headers.get("x-device-id"), request.headers.get("x-sign"))
        return endpoint(fn, guard, action)

    def ops(fn: Callable[[Request], Awaitable[dict] | dict]) -> Handler:
        def guard(request: Request) -> None:
            if not hmac.compare_digest(request.headers.get("x-ops-token", ""), backend.ops_token):
                raise Refused(401, "ops_token_required",
                              "operations need the X-Ops-Token header the backend printed at start")
        return endpoint(fn, guard)

    async def login(request: Request) -> dict:
        body = await _json(request)
        return s.login(body.get("phone"), body.get("channel_id"), body.get("invite_code"),
                       request.headers.get("x-device-id") or body.get("device_id"))

    async def share(request: Request) -> dict:
        body = await _json(request, optional=True)
        return s.share(request.state.user_id, body.get("channel_id"))

    def user(request: Request) -> int:
        return request.state.user_id

    async def ban(request: Request) -> dict:
        body = await _json(request)
        domain = body.get("domain")
        try:
            result = backend.store.ban_domain(str(domain), s.now(), failover="no-failover" not in s.faults)
        except KeyError:
            raise Refused(404, "unknown_domain", f"{domain!r} is not one of this campaign's domains") from None
        if not result["already_banned"]:
            backend.store.log_event(s.now(), "ban", f"{domain} reported banned")
            if result["replacement"]:
                backend.store.log_event(s.now(), "failover", f"{domain} -> {result['replacement']}")
            elif "no-failover" not in s.faults:
                backend.store.log_event(s.now(), "pool_exhausted", f"no backup left to replace {domain}")
        return {**result, **link_pool()}

    def link_pool(_: Request | None = None) -> dict:
        rows = backend.store.domains()
        by_state = {state: [r["domain"] for r in rows if r["state"] == state]
                    for state in ("active", "standby", "banned")}
        return {"issuing": s.issuing_domains(), **by_state,
                "domains": {r["domain"]: {"role": r["role"], "state": r["state"], "issued": r["issued"],
                                          "visits": r["visits"], "banned_t": r["banned_t"]} for r in rows}}

    async def topup(request: Request) -> dict:
        body = await _json(request)
        return desk.topup(str(body.get("pool")), body.get("amount_fen"), body.get("otp"),
                          str(body.get("operator") or "operator"))

    async def resume(request: Request) -> dict:
        body = await _json(request)
        if body.get("confirm") is not True:
            raise Refused(400, "confirm_required", 'send {"confirm": true} to resume payouts')
        return desk.resume(str(body.get("operator") or "operator"))

    async def set_clock(request: Request) -> dict:
        body = await _json(request)
        t = body.get("t")
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise Refused(400, "bad_time", "t must be campaign seconds since launch (negative in preheat)")
        s.clock.set(float(t))
        return {"t": s.now(), "phase": s.phase()}

    async def blacklist(request: Request) -> dict:
        body = await _json(request)
        backend.store.add_to_blacklist(str(body.get("phone")))
        return {"blacklisted": body.get("phone")}

    async def slowdown(request: Request) -> dict:
        body = await _json(request)
        actions, factor, duration = body.get("actions"), body.get("factor"), body.get("duration")
        if (not isinstance(actions, list) or not all(isinstance(a, str) for a in actions)
                or not isinstance(factor, (int, float)) or not isinstance(duration, (int, float)) or factor < 1):
            raise Refused(400, "bad_slowdown", "send {actions: [names], factor: >= 1, duration: campaign s}")
        s.slow_down(actions, float(factor), float(duration))
        backend.store.log_event(s.now(), "slowdown", f"{', '.join(actions)} x{factor:g} for {duration:g} s")
        return {"actions": actions, "factor": factor, "until": s.now() + float(duration)}

    async def limit_pool(request: Request) -> dict:
        body = await _json(request)
        pool, left = body.get("pool"), body.get("left_fen")
        if isinstance(left, bool) or not isinstance(left, int) or left < 0:
            raise Refused(400, "bad_amount", "left_fen must be whole fen >= 0")
        try:
            now_left = backend.store.limit_pool(str(pool), left)
        except KeyError:
            raise Refused(404, "unknown_pool", f"{pool!r} is not a pool of this campaign") from None
        backend.store.log_event(s.now(), "pool_limited", f"{pool} holds {now_left} fen")
        return {"pool": pool, "left_fen": now_left}

    def ledger(_: Request) -> dict:
        return {**backend.store.ledger(), "monitor": desk.reading().as_dict(), "paused": desk.paused()}

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True, "phase": s.phase()})

    routes = [
        Route("/healthz", healthz),
        Route("/api/campaign", public(lambda r: s.campaign_info(r.query_params.get("channel_id"),
                                                                     r.headers.get("x-device-id")), action="open_page")),
        Route("/api/rules", public(lambda r: s.rules(), action="view_rules")),
        Route("/api/login", public(login, action="login"), methods=["POST"]),
        Route("/api/me", public(lambda r: s.me(user(r)), auth=True)),
        Route("/api/institutions/{institution}/tasks/{task}", methods=["POST"], endpoint=public(
            lambda r: s.complete_task(user(r), r.path_params["institution"], r.path_params["task"]), auth=True, action="complete_task")),
        Route("/api/institutions/{institution}/envelope", methods=["POST"], endpoint=public(
            lambda r: desk.open_envelope(user(r), r.path_params["institution"]), auth=True, signed=True, action="open_envelope")),
        Route("/api/invite/envelope", public(lambda r: desk.open_invite_envelope(user(r)), auth=True, signed=True, action="open_invite_envelope"),
              methods=["POST"]),
        Route("/api/grand-draw", public(lambda r: desk.grand_draw(user(r)), auth=True, signed=True, action="grand_draw"), methods=["POST"]),
        Route("/api/share", public(share, auth=True, action="share"), methods=["POST"]),
        Route("/api/follow", public(lambda r: s.follow(user(r)), auth=True, action="follow"), methods=["POST"]),
        Route("/s/{code}", public(lambda r: s.visit_link(r.path_params["code"], r.headers.get("host"),
                                                          r.headers.get("x-device-id")), action="visit_link")),
        Route("/ops/ledger", ops(ledger)),
        Route("/ops/links", ops(link_pool)),
        Route("/ops/domains/ban", ops(ban), methods=["POST"]),
        Route("/ops/stats", ops(lambda r: {"funnel": backend.store.funnel(), "t": s.now()})),
        Route("/ops/events", ops(lambda r: {"events": backend.store.events(int(r.query_params.get("since", 0)))})),
        Route("/ops/monitor", ops(lambda r: {**desk.reading().as_dict(), "paused": desk.paused()})),
        Route("/ops/payouts/resume", ops(resume), methods=["POST"]),
        Route("/ops/topup", ops(topup), methods=["POST"]),
        Route("/ops/clock", ops(set_clock), methods=["POST"]),
        Route("/ops/blacklist", ops(blacklist), methods=["POST"]),
        Route("/ops/slowdown", ops(slowdown), methods=["POST"]),
        Route("/ops/pools/limit", ops(limit_pool), methods=["POST"]),
    ]
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        backend.store.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.backend = backend
    return app


def _client_ip(request: Request) -> str:
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


async def _json(request: Request, optional: bool = False) -> dict:
    raw = await request.body()
    if not raw and optional:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise Refused(400, "bad_json", "the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise Refused(400, "bad_json", "the request body must be a JSON object")
    return body


def _refusal(refused: Refused) -> JSONResponse:
    return JSONResponse({"error": refused.code, "message": refused.message, **refused.extra},
                        status_code=refused.status)
