"""A volley: many requests arriving at the target at the same instant, for a budget race.

Requests sent one after another from one process reach a server a fraction of a millisecond
apart, which is longer than the window a check-then-act defect leaves open. So each request of
the volley is written on its own connection except its last byte; once every request is primed,
the last bytes go out together and the server parses them all at once (the "last-byte sync" of
race-condition testing). Then each answer is read back.

    volley = Volley("http://127.0.0.1:8700", shooters=40)
    answers = volley.burst([spec] * 3)   # from each of the 40 greenlets; returns when all fired

Plain sockets and `http.client`, so it runs under gevent's monkey-patching (the swarm) as well
as with threads.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from urllib.parse import urlencode, urlsplit

from rehearse.client.contract import RequestSpec
from rehearse.client.safety import Allowed, OffLimits, url_safe

Answer = tuple  # (status, body, latency in ms, headers); headers left out when nothing came back
TIMEOUT_S = 10.0


def raw_request(spec: RequestSpec, host_header: str, allowed: Allowed | None = None) -> bytes:
    """The HTTP/1.1 request bytes of a spec, on a connection of its own; checked first against
    the run's target (`OffLimits` when it would go elsewhere or split)."""
    path = url_safe(spec.path) + (("&" if "?" in spec.path else "?") + urlencode(spec.query) if spec.query else "")
    body = b"" if spec.json is None else json.dumps(spec.json).encode()
    headers = {"Host": spec.host or host_header, "Connection": "close", "Accept": "*/*", **spec.headers}
    if spec.host:
        headers["Host"] = spec.host
    if spec.json is not None:
        headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(body))
    if allowed is not None:
        allowed.check(path, headers, spec.action)
    head = f"{spec.method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


class Volley:
    """`shooters` callers each prime their copies; the last to arrive fires them all."""

    def __init__(self, base_url: str, shooters: int) -> None:
        parts = urlsplit(base_url)
        self.tls = parts.scheme == "https"
        self.address = (parts.hostname or "127.0.0.1", parts.port or (443 if self.tls else 80))
        self.host_header = parts.netloc
        self.allowed = Allowed(base_url)
        self.expected = shooters
        self._primed: list[tuple[socket.socket, bytes]] = []
        self._lock = threading.Lock()
        self._fired = threading.Event()
        self.fired_at = 0.0

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=TIMEOUT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.address[0])
        return sock

    def burst(self, specs: list[RequestSpec]) -> list[Answer]:
        """Prime every copy of the request, wait for every shooter, fire together, read the answers."""
        mine: list[socket.socket | None] = []
        primed: list[tuple[socket.socket, bytes]] = []
        try:
            raws = [raw_request(spec, self.host_header, self.allowed) for spec in specs]
        except OffLimits:  # nothing of this shooter's is sent; the others need not wait for it
            with self._lock:
                self.expected -= 1
                last = self.expected <= 0
            if last:
                self.fire()
            raise
        for raw in raws:
            try:
                sock = self._connect()
                sock.sendall(raw[:-1])
                mine.append(sock)
                primed.append((sock, raw[-1:]))
            except OSError:
                mine.append(None)
        with self._lock:
            self._primed += primed
            self.expected -= 1
            last = self.expected <= 0
        if last:
            self.fire()
        if not self._fired.wait(TIMEOUT_S):
            self.fire()  # a shooter never came: fire what is primed rather than hang
        return [self._read(sock) if sock is not None else (0, b"", 0.0) for sock in mine]

    def fire(self) -> None:
        """Send every primed request's last byte, back to back (also when a shooter never came)."""
        with self._lock:
            if self._fired.is_set():
                return
            self.fired_at = time.perf_counter()
            for sock, last_byte in self._primed:
                try:
                    sock.sendall(last_byte)
                except OSError:
                    continue
            self._fired.set()

    def _read(self, sock: socket.socket) -> Answer:
        try:
            response = http.client.HTTPResponse(sock)
            response.begin()
            body = response.read()
            return response.status, body, (time.perf_counter() - self.fired_at) * 1000, response.headers
        except (OSError, http.client.HTTPException):
            return 0, b"", (time.perf_counter() - self.fired_at) * 1000
        finally:
            sock.close()
