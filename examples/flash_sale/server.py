"""The threaded HTTP server the sale runs on: werkzeug's (a thread per connection, HTTP/1.1
keep-alive), quiet, on a socket bound by the caller so a taken port is one line of error."""

from __future__ import annotations

import socket

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

BACKLOG = 2048
"""Connections the kernel may queue for accept: a volley of simultaneous taps is more than
werkzeug's 128."""


class QuietHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # no access log: a load test would write one line per request


class BindError(OSError):
    """The address cannot be listened on: the message is the whole error line."""


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        raise BindError(f"--port {port}: cannot listen on {host}:{port} "
                        f"({getattr(exc, 'strerror', None) or exc}); pick another, or 0 for any free one") from None
    sock.listen(BACKLOG)
    return sock


def make_server(sock: socket.socket, app) -> ThreadedWSGIServer:
    """A server for `app` on the bound, listening `sock` (serve_forever() runs it)."""
    host, port = sock.getsockname()[:2]
    return ThreadedWSGIServer(host, port, app, handler=QuietHandler, fd=sock.fileno())
