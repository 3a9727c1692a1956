"""Keep-alive checks of pooled sockets (swarm/connections.py) at any file descriptor."""

from __future__ import annotations

import os
import resource
import socket

import pytest

from rehearse.swarm.connections import idle_socket_alive


def test_an_idle_socket_is_alive_and_a_closed_or_dirty_one_is_not() -> None:
    idle, peer = socket.socketpair()
    with idle, peer:
        assert idle_socket_alive(idle)
        peer.sendall(b"x")  # bytes nobody asked for: not reusable
        assert not idle_socket_alive(idle)
    closed, gone = socket.socketpair()
    with closed:
        gone.close()  # the peer hung up
        assert not idle_socket_alive(closed)
    assert not idle_socket_alive(closed)  # our side closed too
    assert not idle_socket_alive(None)


def test_a_socket_above_descriptor_1023_is_checked_like_any_other() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if max(soft, hard) < 1100:
        pytest.skip("the file descriptor limit is below 1100")
    if soft < 1100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1100, hard))
    a, b = socket.socketpair()
    high = os.dup2(a.fileno(), 1050)
    try:
        sock = socket.socket(fileno=high)
        with sock, a, b:
            assert sock.fileno() >= 1024 and idle_socket_alive(sock)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
