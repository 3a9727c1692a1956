"""Flash Sale: a small sale backend in a third style, to prove rehearse against.

A 2-hour sale of one SKU in limited stock, one unit per customer. A Flask app on a threaded
server (werkzeug's), SQLite through a small bounded connection pool of its own (pool.py),
customers known by email, a bearer token from login, plain HTTP statuses with JSON bodies
(`201 {"order_id": ...}`, `409 {"error": "sold_out"}`), no share links, no preheat, no
operations hooks: it keeps its own wall clock, and `GET /api/v1/status` tells the stock left
and the units sold. `python -m examples.flash_sale --help` starts it; `scenario.yaml` beside
this file is its campaign.

Modules: sale.py (what is on sale, and when), pool.py (the connection pool), store.py (the
database's schema), accounts.py (login and tokens), orders.py (placing an order, the status
counters), faults.py (the planted defects), app.py (the routes), server.py (the threaded
server), cli.py (the command line), serve.py (a backend in a subprocess, for tests).
"""
