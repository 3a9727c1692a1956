"""Running the reference backend: in the foreground (the CLI) or in a thread (tests, tools).

It binds 127.0.0.1 only. Port 0 picks a free port; `running_backend` yields once the server
accepts connections, so callers never sleep and guess.
"""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import uvicorn

from rehearse.reference_backend.app import Backend, create_app
from rehearse.scenarios.errors import RehearseError

LOOPBACK = "127.0.0.1"


def bind_loopback(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port (0 for any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as exc:
        sock.close()
        raise RehearseError(f"--port {port}: cannot listen on {LOOPBACK}:{port} ({exc.strerror}); "
                            "pick another port, or 0 for any free one") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _config(backend: Backend, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(create_app(backend), log_level=log_level, access_log=False,
                          lifespan="on", timeout_graceful_shutdown=2, backlog=2048,
                          timeout_keep_alive=75)  # load clients pool connections; keep them


def serve(backend: Backend, sock: socket.socket, log_level: str = "warning") -> None:
    """Serve until interrupted (Ctrl-C stops it cleanly)."""
    uvicorn.Server(_config(backend, log_level)).run(sockets=[sock])


@dataclass
class RunningBackend:
    backend: Backend
    url: str
    port: int


@contextmanager
def running_backend(backend: Backend, port: int = 0) -> Iterator[RunningBackend]:
    """Serve the backend from a thread of this process for the duration of the block."""
    sock = bind_loopback(port)
    server = uvicorn.Server(_config(backend, "error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RehearseError("the reference backend stopped while starting; see the log above")
            thread.join(0.01)
        actual = sock.getsockname()[1]
        yield RunningBackend(backend=backend, url=f"http://{LOOPBACK}:{actual}", port=actual)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
