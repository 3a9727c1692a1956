"""Keep-alive connections that stay kept past file descriptor 1023.

FastHttpUser's connection pool (geventhttpclient's `ConnectionPool`) checks an idle socket
before reusing it with `select.select([sock], [], [], 0)`, which raises ValueError for a file
descriptor of 1024 or more; the pool takes that for a dead socket, closes it and connects
anew. A process with more than about a thousand users therefore opened a new connection (a
thread-pool DNS look-up, a connect, a close) for most of its requests: measured with 2,000
persona users against nginx, 35,000 connections for 43,000 requests, a fifth of the process's
CPU. The check below asks the kernel the same question with one non-blocking peek, for any
descriptor: nothing to read means idle and alive; a closed peer (b"") or unread bytes mean
not reusable, as before.

`reuse_idle_connections()` installs it for the process (swarm/tuning.py does, when the runtime is built).
"""

from __future__ import annotations

import socket
from typing import Any

_PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT


def idle_socket_alive(sock: Any) -> bool:
    """Whether a pooled idle socket can carry the next request: open, nothing unread."""
    if sock is None:
        return False
    raw = getattr(sock, "_sock", sock)  # gevent's socket wraps the OS socket: peek without waiting
    try:
        if raw.fileno() < 0:
            return False
        raw.recv(1, _PEEK)
    except BlockingIOError:
        return True  # nothing to read: idle, as a kept-alive connection should be
    except (OSError, ValueError):
        return False
    return False  # readable: closed by the peer, or bytes nobody asked for


def _is_socket_alive(self: Any, sock: Any) -> bool:  # replaces the pool's method: `self` is the pool
    return idle_socket_alive(sock)


def reuse_idle_connections() -> bool:
    """Make geventhttpclient's pools check idle sockets with `idle_socket_alive` (any
    descriptor). False when geventhttpclient is not installed or has no such check."""
    try:
        from geventhttpclient.connectionpool import ConnectionPool
    except ImportError:
        return False
    if not hasattr(ConnectionPool, "_is_socket_alive"):
        return False
    ConnectionPool._is_socket_alive = _is_socket_alive  # type: ignore[method-assign]  # a patch, on purpose
    return True
