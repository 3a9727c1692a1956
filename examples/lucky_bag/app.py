"""The Lucky Bag backend as an ASGI app: participant routes under /v1 and /l, operations under /ops.

Every answer is HTTP 200 with `{"code": 0, "msg": "ok", "data": {...}}`, or a refusal
`{"code": <nonzero>, "msg": <reason>, "data": null}` (codes.py); a crash is HTTP 500 with code
50000. Login sets the `SID` cookie that authenticates later calls. Payout routes also need an
`Idempotency-Key` header and an `X-Sign` signature (signing.py). Operations need the
`X-Admin-Key` header printed at start.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from examples.lucky_bag import ops
from examples.lucky_bag.codes import Code, Refusal
from examples.lucky_bag.game import Game, Session
from examples.lucky_bag.signing import canonical_body, verify

Handler = Callable[[Request], Awaitable[Response]]
log = logging.getLogger("lucky_bag")


def ok(data: Any) -> dict:
    return {"code": int(Code.OK), "msg": "ok", "data": data}


def refused(refusal: Refusal) -> dict:
    return {"code": int(refusal.code), "msg": refusal.msg, "data": None}


async def json_body(request: Request) -> dict:
    """The JSON object the request carries ({} when empty); BAD_PARAMS otherwise."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise Refusal(Code.BAD_PARAMS, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise Refusal(Code.BAD_PARAMS, "the body must be a JSON object")
    return body


def client_ip(request: Request) -> str:
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def create_app(game: Game, admin_key: str, wall: Callable[[], float] = time.time) -> Starlette:
    """The app serving one Game; `wall` is the clock payout signatures are checked against."""

    def answering(fn: Callable[[Request], Awaitable[Response | dict]]) -> Handler:
        """Run fn; a dict is the data of an ok answer, a Refusal its refusal, a crash a 500."""
        async def handler(request: Request) -> Response:
            try:
                result = await fn(request)
            except Refusal as refusal:
                return JSONResponse(refused(refusal))
            except Exception:  # a real error: logged, answered 500 with code 50000
                log.exception("%s %s crashed", request.method, request.url.path)
                return JSONResponse({"code": int(Code.ERROR), "msg": "internal error", "data": None},
                                    status_code=500)
            return result if isinstance(result, Response) else JSONResponse(ok(result))
        return handler

    def participant(fn: Callable[[Request, Session | None, dict], Any], login: bool = True) -> Handler:
        """A participant route: the address's rate limit, the SID session (if `login`), the body."""
        async def run(request: Request) -> Response | dict:
            game.check_ip(client_ip(request))
            session = game.session(request.cookies.get("SID")) if login else None
            result = fn(request, session, await json_body(request))
            return await result if hasattr(result, "__await__") else result
        return answering(run)

    def payout(fn: Callable[[Session, dict], Awaitable[dict]]) -> Handler:
        """A payout route: signed, and answered once per Idempotency-Key (the first answer is
        replayed, with the header `Idempotent-Replayed: true`)."""
        async def run(request: Request) -> Response:
            game.check_ip(client_ip(request))
            session = game.session(request.cookies.get("SID"))
            body = await json_body(request)
            if not verify(session.sign_key, request.headers.get("x-sign"), request.method,
                          request.url.path, body, now_s=wall()):
                raise Refusal(Code.BAD_SIGNATURE, "X-Sign must be t=<unix s>,v1=<HMAC-SHA256 of the "
                              "request with the sign_key from login>")
            key = request.headers.get("idempotency-key")
            if not key:
                raise Refusal(Code.BAD_PARAMS, "payouts need an Idempotency-Key header")

            async def work() -> dict:
                try:
                    return ok(await fn(session, body))
                except Refusal as refusal:
                    return refused(refusal)

            if "retry-paid-twice" in game.faults:  # the fault: the key is not looked at
                answer, replayed = await work(), False
            elif "replay-pays-again" in game.faults:  # the fault: a key seen before is paid again, said replayed
                replayed = game.keys.seen_before(session.uid, key)
                answer = await work()
            else:
                fingerprint = f"{request.url.path} {canonical_body(body)}"
                answer, replayed = await game.keys.once(session.uid, key, fingerprint, work)
            headers = {"Idempotent-Replayed": "true"} if replayed else None
            return JSONResponse(answer, headers=headers)
        return answering(run)

    async def login(request: Request, _: Session | None, body: dict) -> Response:
        """Log in with a mobile number; sets the SID cookie; data: uid, invite_code, sign_key."""
        sid, _session, data = game.login(body.get("mobile"), body.get("channel"), body.get("inviter"))
        response = JSONResponse(ok(data))
        response.set_cookie("SID", sid, path="/", httponly=True, samesite="lax")
        return response

    def admin(fn: Callable[[Request, dict], Any]) -> Handler:
        """An operations route: needs X-Admin-Key."""
        async def run(request: Request) -> dict:
            if not hmac.compare_digest(request.headers.get("x-admin-key", ""), admin_key):
                raise Refusal(Code.ADMIN_KEY, "operations need the X-Admin-Key printed at start")
            return fn(request, await json_body(request))
        return answering(run)

    async def healthz(_: Request) -> Response:
        """Liveness: the campaign phase."""
        return JSONResponse(ok({"phase": game.phase()}))

    routes = [
        Route("/healthz", healthz),
        Route("/v1/act/home", participant(lambda r, s, b: game.home(r.query_params.get("ch")), login=False)),
        Route("/v1/act/rules", participant(lambda r, s, b: game.rules(), login=False)),
        Route("/v1/user/login", participant(login, login=False), methods=["POST"]),
        Route("/v1/user/follow", participant(lambda r, s, b: game.follow(s.uid)), methods=["POST"]),
        Route("/v1/task/done", participant(lambda r, s, b: game.complete_task(s.uid, b.get("inst"), b.get("task"))),
              methods=["POST"]),
        Route("/v1/share/create", participant(lambda r, s, b: game.share(s.uid)), methods=["POST"]),
        Route("/l/{code}", participant(lambda r, s, b: game.visit(r.path_params["code"], r.headers.get("host")),
                                       login=False)),
        Route("/v1/bag/open", payout(lambda s, b: game.open_bag(s.uid, b.get("inst"))), methods=["POST"]),
        Route("/v1/bag/invite", payout(lambda s, b: game.open_invite_bag(s.uid)), methods=["POST"]),
        *[Route(path, admin(lambda r, b, fn=fn: fn(game, b)), methods=[method])
          for method, path, fn in ops.ROUTES],
    ]

    async def not_found(request: Request, _: Exception) -> Response:
        return JSONResponse(refused(Refusal(Code.NOT_FOUND, f"no route {request.method} {request.url.path}")))

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
