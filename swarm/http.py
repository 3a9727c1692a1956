"""Sending a RequestSpec with httpx (the walkthrough's and the tools' transport)."""

from __future__ import annotations

import time

import httpx

from rehearse.swarm.contract import RequestSpec


def send(client: httpx.Client, spec: RequestSpec) -> tuple[int, bytes, float, httpx.Headers | None]:
    """(status, body, latency in ms, headers); status 0 when the request did not complete.

    The client keeps no cookies: a participant's cookie jar is in its session (the contract sends
    it), so one client serves many participants without one carrying another's login."""
    headers = dict(spec.headers)
    if spec.host:
        headers["Host"] = spec.host
    started = time.perf_counter()
    try:
        response = client.request(spec.method, spec.path, params=spec.query or None,
                                  headers=headers, json=spec.json)
    except httpx.HTTPError as exc:
        return 0, str(exc).encode(), (time.perf_counter() - started) * 1000, None
    latency_ms = (time.perf_counter() - started) * 1000
    client.cookies.clear()
    return response.status_code, response.content, latency_ms, response.headers
