"""The payout signature: HMAC-SHA256 over the timestamp, method, path and body, keyed with the
session's `sign_key` (handed out at login), sent as `X-Sign: t=<unix s>,v1=<hex>`.

    header = sign_header(key, int(time.time()), "POST", "/v1/bag/open", {"inst": "jinniu"})
    verify(key, header, "POST", "/v1/bag/open", {"inst": "jinniu"}, now_s=time.time())  # True

Both sides canonicalise the JSON body the same way (sorted keys, no spaces), so the signer and
the backend agree whatever order the fields were sent in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

WINDOW_S = 300.0
"""A signature is good for this many wall seconds either side of its timestamp."""


def canonical_body(body: Any) -> str:
    return json.dumps(body if body is not None else {}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


def signature(key: str, ts: int, method: str, path: str, body: Any) -> str:
    message = f"{ts}\n{method.upper()}\n{path}\n{canonical_body(body)}"
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign_header(key: str, ts: int, method: str, path: str, body: Any) -> str:
    return f"t={ts},v1={signature(key, ts, method, path, body)}"


def verify(key: str, header: str | None, method: str, path: str, body: Any, now_s: float,
           window_s: float = WINDOW_S) -> bool:
    """Whether `header` signs this request with `key`, within the time window."""
    if not header:
        return False
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        ts = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now_s - ts) > window_s:
        return False
    return hmac.compare_digest(signature(key, ts, method, path, body), parts.get("v1", ""))
