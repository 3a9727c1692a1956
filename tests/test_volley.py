"""A volley: every shooter's copies primed on their own connections, fired together, each answer
read back and parsed (status, body), against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import threading

import pytest

from rehearse.client.contract import RequestSpec
from rehearse.swarm.volley import Volley, raw_request
from stub_backend import Books, serving

pytestmark = pytest.mark.xdist_group("live")


def test_a_request_is_written_as_http_with_its_body_query_and_host():
    spec = RequestSpec("open_envelope", "POST", "/api/x", {"a": "1 2"}, {"X-Sign": "s"}, {"n": 1}, "hb1.example")
    raw = raw_request(spec, "127.0.0.1:8700").decode()
    head, body = raw.split("\r\n\r\n")
    assert head.splitlines()[0] == "POST /api/x?a=1+2 HTTP/1.1"
    assert "Host: hb1.example" in head and "X-Sign: s" in head and "Content-Length: 8" in head
    assert json.loads(body) == {"n": 1}


def test_every_copy_of_every_shooter_is_answered():
    books = Books(pays_every_copy=True)
    with serving(books) as url:
        volley = Volley(url, shooters=3)
        answers: list = []

        def shoot(n: int) -> None:
            spec = RequestSpec("open_envelope", "POST", "/api/institutions/anhe/envelope", {},
                               {"Authorization": f"Bearer u{n}"}, None)
            answers.extend(volley.burst([spec] * 3))

        threads = [threading.Thread(target=shoot, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert [answer[0] for answer in answers] == [200] * 9
    assert all(json.loads(answer[1]) == {"amount_fen": 100} for answer in answers)
    assert books.paid == {"anhe": 900}
