"""Sending a RequestSpec with httpx (the walkthrough's and the tools' transport).

The client is `client.safety.guarded_client`'s: every request, each hop of a redirect included,
is checked at its transport; a request aimed elsewhere raises `OffLimits` (a mapping's mistake,
never an answer of the target's)."""

from __future__ import annotations

import time

import httpx

from rehearse.client.contract import RequestSpec
from rehearse.client.safety import MAX_REDIRECTS, REDIRECTS, OffLimits


def send(client: httpx.Client, spec: RequestSpec,
         follow_redirects: bool = False) -> tuple[int, bytes, float, httpx.Headers | None]:
    """(status, body, latency in ms, headers); status 0 when the request did not complete.

    A redirect is the answer unless `follow_redirects` (the mapping's opt-in): then up to
    MAX_REDIRECTS hops on the target's own origin are followed, and one aimed elsewhere is the
    answer. The client keeps no cookies: a participant's cookie jar is in its session (the
    contract sends it), so one client serves many participants without one carrying another's
    login."""
    headers = dict(spec.headers)
    if spec.host:
        headers["Host"] = spec.host
    started = time.perf_counter()
    try:
        response = client.request(spec.method, spec.path, params=spec.query or None,
                                  headers=headers, json=spec.json)
        for _ in range(MAX_REDIRECTS if follow_redirects else 0):
            location = response.headers.get("location")
            if response.status_code not in REDIRECTS or not location:
                break
            hop = response.url.join(location)
            method = "GET" if response.status_code == 303 or (
                response.status_code in (301, 302) and spec.method == "POST") else spec.method
            body = spec.json if method == spec.method else None
            try:
                response = client.request(method, hop, headers=headers, json=body)
            except OffLimits:
                break  # aimed elsewhere: the redirect is the answer
    except httpx.HTTPError as exc:
        return 0, str(exc).encode(), (time.perf_counter() - started) * 1000, None
    latency_ms = (time.perf_counter() - started) * 1000
    client.cookies.clear()
    return response.status_code, response.content, latency_ms, response.headers
