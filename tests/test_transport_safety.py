"""Traffic goes only to the run's target: every request is checked where it is sent, after its
templates are filled, and a redirect is an answer, never a way elsewhere. A second server on
another loopback port stands for "elsewhere": it must receive nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from rehearse.cli.main import main
from rehearse.client.contract import RequestSpec
from rehearse.client.http import send
from rehearse.client.safety import Allowed, OffLimits, guarded_client, url_safe
from rehearse.swarm.volley import Volley

ROOT = Path(__file__).parents[1]


class Hits:
    """Requests a server received, by path."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.lock = threading.Lock()

    def add(self, path: str) -> None:
        with self.lock:
            self.paths.append(path)


def counting_app(hits: Hits, answer) -> Starlette:
    async def any_path(request: Request) -> Response:
        hits.add(request.url.path)
        return answer(request)

    return Starlette(routes=[Route("/{path:path}", any_path, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """An app on a free loopback port, from a thread, for the block; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            thread.join(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def elsewhere_and_redirector() -> Iterator[tuple[Hits, Hits, str, str]]:
    """`elsewhere` answers 200 to anything; the target answers every request with a 302 to it
    (POSTs included), except /same, which it redirects to its own /landed."""
    far, near = Hits(), Hits()
    with serving(counting_app(far, lambda r: JSONResponse({"token": "t", "sign": "s"}))) as far_url:
        def redirect(request: Request) -> Response:
            if request.url.path == "/same":
                return RedirectResponse("/landed", status_code=302)
            if request.url.path == "/landed":
                return JSONResponse({"landed": True})
            return RedirectResponse(f"{far_url}{request.url.path}", status_code=302)

        with serving(counting_app(near, redirect)) as near_url:
            yield far, near, far_url, near_url


# --- the check itself --------------------------------------------------------------------------


def test_a_request_may_go_to_the_targets_own_origin_only():
    allowed = Allowed("http://127.0.0.1:8700")
    allowed.check("/api/login?x=1", {"X-Sign": "abc"})
    allowed.check("//other.example/x")  # appended to the target's URL: a path on the target
    allowed.check("http://127.0.0.1:8700/api")
    for elsewhere in ("http://127.0.0.1:8701/api", "https://127.0.0.1:8700/api", "http://evil.example/",
                      "http://localhost:8700/"):
        with pytest.raises(OffLimits, match="not the run's target"):
            allowed.check(elsewhere)


def test_a_request_that_would_split_is_refused():
    allowed = Allowed("http://127.0.0.1:8700")
    with pytest.raises(OffLimits, match="control character"):
        allowed.check("/api\r\nHost: evil.example")
    for name, value in (("X-Note", "a\r\nSet-Cookie: x=1"), ("Bad Name", "x"), ("X-Name", "王小明")):
        with pytest.raises(OffLimits, match="cannot be sent as it is"):
            allowed.check("/api", {name: value})
    assert url_safe("/a b/é?q=1") == "/a%20b/%C3%A9?q=1"


def test_a_host_with_credentials_in_it_is_refused():
    from rehearse.scenarios import UsageError
    from rehearse.client.safety import check_host

    with pytest.raises(UsageError, match="credentials in the URL") as refused:
        check_host("http://admin:s3cret@127.0.0.1:8700", False, [])
    assert "s3cret" not in str(refused.value)


def test_a_redirect_is_followed_only_on_the_target():
    allowed = Allowed("http://127.0.0.1:8700")
    assert allowed.next_hop("/a", 302, {"location": "/b"}) == "http://127.0.0.1:8700/b"
    assert allowed.next_hop("/a", 307, {"location": "http://127.0.0.1:8701/b"}) is None
    assert allowed.next_hop("/a", 200, {"location": "/b"}) is None
    assert allowed.next_hop("/a", 302, {}) is None


def test_httpx_requests_are_checked_at_the_transport_and_redirects_are_answers():
    with elsewhere_and_redirector() as (far, near, far_url, near_url):
        with guarded_client(near_url, timeout=5) as client:
            status, _, _, _ = send(client, RequestSpec("login", "POST", "/api/login", json={"a": 1}))
            assert status == 302  # the redirect is the answer
            status, _, _, _ = send(client, RequestSpec("login", "POST", "/api/login", json={"a": 1}),
                                   follow_redirects=True)
            assert status == 302  # opted in, but it points elsewhere: not followed
            status, body, _, _ = send(client, RequestSpec("open_page", "GET", "/same"), follow_redirects=True)
            assert (status, body) == (200, b'{"landed":true}')  # on the target: followed
            with pytest.raises(OffLimits):
                send(client, RequestSpec("open_page", "GET", f"{far_url}/api/campaign"))
        assert far.paths == []
        assert near.paths == ["/api/login", "/api/login", "/same", "/landed"]


def test_the_volley_refuses_a_request_aimed_elsewhere():
    with elsewhere_and_redirector() as (far, _near, far_url, near_url):
        volley = Volley(near_url, shooters=1)
        with pytest.raises(OffLimits):
            volley.burst([RequestSpec("open_envelope", "POST", f"{far_url}/api/x")])
        assert far.paths == []


# --- every engine, live ------------------------------------------------------------------------

def rehearse(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rehearse", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200", **(env or {})})


@pytest.mark.xdist_group("live")
def test_the_swarm_never_follows_a_redirect_elsewhere(tmp_path):
    with elsewhere_and_redirector() as (far, near, _far_url, near_url):
        done = rehearse("swarm", "--host", near_url, "--duration", "4s", "--users", "5",
                        "--out", str(tmp_path / "run"))
    assert "Traceback" not in done.stderr
    assert len(near.paths) > 5, done.stderr
    assert far.paths == [], f"{len(far.paths)} requests were carried to another server"


AIMING_ADAPTER = '''
import os
from rehearse.client.contract import DeclarativeContract

class Aimed(DeclarativeContract):
    """Sends the campaign page to wherever the target said (as a mapping filled from an answer would)."""
    def build(self, act, user, session, step_id=""):
        spec = super().build(act, user, session, step_id)
        if act.action == "open_page":
            spec.path = os.environ["ELSEWHERE"] + spec.path
        return spec
'''


@pytest.mark.xdist_group("live")
def test_a_request_a_value_aims_elsewhere_stops_the_swarm_before_it_is_sent(tmp_path):
    (tmp_path / "aiming.py").write_text(AIMING_ADAPTER)
    with elsewhere_and_redirector() as (far, _near, far_url, _near_url):
        done = rehearse("swarm", "--duration", "6s", "--users", "5", "--out", str(tmp_path / "run"),
                        "--set", "target.adapter=aiming:Aimed", cwd=tmp_path,
                        env={"ELSEWHERE": far_url, "PYTHONPATH": str(tmp_path)})
    assert far.paths == []
    assert done.returncode == 2, done.stderr
    assert "not the run's target" in done.stderr and "Traceback" not in done.stderr


def test_the_walkthrough_and_target_check_never_follow_a_redirect_elsewhere(tmp_path, capsys):
    with elsewhere_and_redirector() as (far, near, _far_url, near_url):
        for argv in (["walkthrough", "--host", near_url, "--ops-token", "t", "--out", str(tmp_path / "walk")],
                     ["target", "check", "--host", near_url, "--ops-token", "t"]):
            with pytest.raises(SystemExit):
                main(argv)
    assert near.paths, capsys.readouterr().err
    assert far.paths == []
