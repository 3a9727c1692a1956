"""The one function the Lucky Bag target mapping calls (`target.functions` in scenario.yaml).

    functions: {sign: "examples.lucky_bag.mapping:sign"}
    headers: {X-Sign: "{fn.sign}"}

The harness calls it with the request as built so far (attributes user, session, params,
step_id, request_id, method, path, query, body, headers); it returns the X-Sign value.
"""

from __future__ import annotations

import time
from typing import Any

from examples.lucky_bag.signing import sign_header


def sign(call: Any) -> str:
    """X-Sign for a payout: HMAC of the request keyed with the session's sign_key from login."""
    key = (call.session or {}).get("sign_key")
    return sign_header(str(key or ""), int(time.time()), call.method, call.path, call.body)
