"""A tiny campaign backend written here, not the reference one: the bundled contract's paths, every
step allowed (with `tasks`, an envelope only once its institution's tasks are done; with
`capacity`, slow once more participants than that are about), envelopes and the grand draw paid once per participant (or, with `pays_every_copy`,
every request: a retried attempt is paid twice), and books that may under-record what was paid
(`records_share`), that may stop answering between two phases of a rehearsal
(`stall_after_load`), and that may replace a banned link domain some real seconds after the
ban is reported (`failover_s`: mapped without set_clock, it is a target on its own clock). It exists to show the payout gate judges from the harness's own rows."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DOMAIN = "hb1.yearend-wealth.example"
BACKUP = "bk1.redenv-go.example"  # what replaces DOMAIN once its ban is reported (with failover_s)
SESSION_S = 30.0  # a participant counts as about for this long after its last request (think times)


@dataclass
class Books:
    pays_every_copy: bool = False
    records_share: float = 1.0
    paid: dict[str, int] = field(default_factory=dict)  # pool -> fen actually paid
    claimed: set[tuple[str, str]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tasks: dict[str, int] | None = None  # institution -> tasks that unlock its envelope (None: none)
    capacity: int | None = None  # participants at once (seen in the last SESSION_S) it serves fast
    slow_s: float = 1.5  # how long each answer takes beyond that capacity
    seen: dict[str, float] = field(default_factory=dict)
    stall_after_load: bool = False  # asked whether it answers after serving load: it stops answering
    failover_s: float | None = None  # a banned domain is replaced this many real seconds after its report
    banned_at: dict[str, float] = field(default_factory=dict)  # domain -> when its ban was reported (monotonic)
    served: int = 0  # requests answered but the harness's "does it answer" (GET /)
    stalled_now: bool = False
    closing: bool = False

    def over_capacity(self, who: str) -> bool:
        """Whether more participants than `capacity` are about now (this one included)."""
        if self.capacity is None:
            return False
        now = time.monotonic()
        with self.lock:
            if who:
                self.seen[who] = now
            for key in [k for k, at in self.seen.items() if now - at > SESSION_S]:
                del self.seen[key]
            return len(self.seen) > self.capacity
    done: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def task(self, who: str, institution: str, task: str) -> None:
        with self.lock:
            self.done.setdefault((who, institution), set()).add(task)

    def locked(self, who: str, institution: str) -> bool:
        needed = (self.tasks or {}).get(institution, 0)
        with self.lock:
            return len(self.done.get((who, institution), ())) < needed

    def pay(self, who: str, pool: str, fen: int) -> JSONResponse:
        with self.lock:
            if not self.pays_every_copy and (who, pool) in self.claimed:
                return JSONResponse({"error": "already_claimed"}, status_code=409)
            self.claimed.add((who, pool))
            self.paid[pool] = self.paid.get(pool, 0) + fen
        return JSONResponse({"amount_fen": fen})

    def stalled(self, path: str) -> bool:
        """Whether this request gets no answer: once the harness asks whether the target answers
        (GET /) after load was served (between phases), none does, until the stub stops."""
        with self.lock:
            if path != "/":
                self.served += 1
            elif self.stall_after_load and self.served:
                self.stalled_now = True
            return self.stalled_now and not self.closing

    def ledger(self) -> dict:
        recorded = {pool: int(fen * self.records_share) for pool, fen in self.paid.items()}
        return {"total": {"paid_fen": sum(recorded.values())}, "paid_twice": 0,
                "pools": {pool: {"paid_fen": fen} for pool, fen in recorded.items()}}


def create_app(books: Books) -> Starlette:
    def who(request: Request) -> str:
        return request.headers.get("authorization", "")

    async def ok(request: Request) -> JSONResponse:
        return JSONResponse({"sign": "s", "invite_code": "c1"})

    async def login(request: Request) -> JSONResponse:
        phone = (await request.json()).get("phone", "")
        return JSONResponse({"token": phone, "user_id": phone, "invite_code": "c" + phone[-4:]})

    async def envelope(request: Request) -> JSONResponse:
        if books.locked(who(request), request.path_params["institution"]):
            return JSONResponse({"error": "envelope_locked"}, status_code=423)
        return books.pay(who(request), request.path_params["institution"], 100)

    async def task(request: Request) -> JSONResponse:
        books.task(who(request), request.path_params["institution"], request.path_params["task"])
        return JSONResponse({"ok": True})

    async def draw(request: Request) -> JSONResponse:
        return books.pay(who(request), "grand", 200)

    async def refused(request: Request) -> JSONResponse:
        return JSONResponse({"error": "not_earned"}, status_code=409)

    async def share(request: Request) -> JSONResponse:
        domain = DOMAIN
        reported = books.banned_at.get(DOMAIN)
        if reported is not None and books.failover_s is not None and time.monotonic() - reported >= books.failover_s:
            domain = BACKUP  # replaced, failover_s after the ban was reported
        return JSONResponse({"url": f"https://{domain}/s/c1", "domain": domain})

    async def ban(request: Request) -> JSONResponse:
        domain = (await request.json()).get("domain", "")
        with books.lock:
            books.banned_at.setdefault(domain, time.monotonic())
        return JSONResponse({"domain": domain})


    async def ledger(request: Request) -> JSONResponse:
        return JSONResponse(books.ledger())

    async def capacity(request: Request, call_next):
        # a participant, from its first request on (before it has a token): its device and address
        participant = request.headers.get("x-device-id", "") + "@" + request.headers.get("x-forwarded-for", "")
        if books.over_capacity(participant):
            await asyncio.sleep(books.slow_s)
        while books.stalled(request.url.path):  # a target that never recovered: no answer until it stops
            await asyncio.sleep(0.1)
        return await call_next(request)

    return Starlette(middleware=[Middleware(BaseHTTPMiddleware, dispatch=capacity)], routes=[
        Route("/api/campaign", ok), Route("/api/rules", ok), Route("/s/{code}", ok),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/institutions/{institution}/tasks/{task}", task, methods=["POST"]),
        Route("/api/institutions/{institution}/envelope", envelope, methods=["POST"]),
        Route("/api/grand-draw", draw, methods=["POST"]),
        Route("/api/invite/envelope", refused, methods=["POST"]),
        Route("/api/share", share, methods=["POST"]), Route("/api/follow", ok, methods=["POST"]),
        Route("/ops/ledger", ledger), Route("/ops/clock", ok, methods=["POST"]),
        Route("/ops/domains/ban", ban, methods=["POST"]),
    ])


@contextmanager
def serving(books: Books) -> Iterator[str]:
    """The stub on a free loopback port, from a thread, for the block; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(books), log_level="error", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the stub backend did not start"
            thread.join(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        books.closing = True
        server.should_exit = True
        thread.join(10)
        sock.close()
