"""Lucky Bag: a small campaign backend in the business-code style, to prove rehearse against.

Every answer is HTTP 200 with `{"code": 0, "msg": "ok", "data": {...}}` (a refusal: a nonzero
code and `data: null`), money is yuan strings ("3.45"), sessions are a `SID` cookie, payouts
take an `Idempotency-Key` header and an HMAC signature, and there is no grand round. State is
in memory, in one process. `python -m examples.lucky_bag --help` starts it; `scenario.yaml`
beside this file is its campaign, and `mapping.py` the one function its target mapping calls.
"""
