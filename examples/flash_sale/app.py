"""The Flash Sale routes, as a Flask app.

    GET  /healthz                      {"ok": true}
    GET  /api/v1/sale                  the sale page: sku, price, stock left, state
    GET  /api/v1/sale/rules            the rules
    POST /api/v1/login {email}         200 {"token", "email"}
    POST /api/v1/orders {sku, email}   Authorization: Bearer TOKEN; 201 {"order_id", "sku", "price_fen", "price"}
    GET  /api/v1/status                {"stock", "stock_left", "sold", ...}: the books

Errors are JSON `{"error": CODE, "message": ...}`: 400 bad_request, bad_email, unknown_sku,
email_mismatch; 401 unauthorized; 403 not_open, sale_closed; 409 sold_out, already_ordered;
503 "no database connection" (the pool had none free); 500 internal.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from examples.flash_sale import accounts, orders
from examples.flash_sale.pool import ConnectionPool, NoConnection
from examples.flash_sale.sale import Sale, fen_to_yuan

log = logging.getLogger("flash_sale")


def error(status: int, code: str, message: str = ""):
    return jsonify({"error": code, "message": message or code.replace("_", " ")}), status


def json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise orders.Refused("bad_request", 400)
    return body


def create_app(sale: Sale, pool: ConnectionPool, faults: frozenset[str] = frozenset()) -> Flask:
    app = Flask("flash_sale")
    app.json.sort_keys = False

    @app.errorhandler(orders.Refused)
    def refused(exc: orders.Refused):
        return error(exc.status, exc.error)

    @app.errorhandler(accounts.Unauthorized)
    def unauthorized(exc: accounts.Unauthorized):
        return error(401, "unauthorized", str(exc))

    @app.errorhandler(NoConnection)
    def no_connection(exc: NoConnection):
        return error(503, "no database connection", str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"))

    @app.errorhandler(Exception)
    def crashed(exc: Exception):
        log.exception("unexpected error")
        return error(500, "internal")

    @app.get("/healthz")
    def healthz():
        return jsonify({"ok": True})

    @app.get("/api/v1/sale")
    def sale_page():
        with pool.connection() as db:
            return jsonify(sale.public(orders.units_left(db, sale)))

    @app.get("/api/v1/sale/rules")
    def rules():
        return jsonify(sale.rules())

    @app.post("/api/v1/login")
    def login():
        email = json_object().get("email")
        if not accounts.valid_email(email):
            raise orders.Refused("bad_email", 400)
        with pool.connection() as db:
            token = accounts.login(db, email)
        return jsonify({"token": token, "email": email.lower()})

    @app.post("/api/v1/orders")
    def order():
        body = json_object()
        if body.get("sku") != sale.sku:
            raise orders.Refused("unknown_sku", 400)
        state = sale.state()
        if state != "open":
            raise orders.Refused("not_open" if state == "not_open" else "sale_closed", 403)
        with pool.connection() as db:
            email = accounts.customer(db, request.headers.get("Authorization"))
        if str(body.get("email", email)).lower() != email:
            raise orders.Refused("email_mismatch", 400)
        placed = orders.place(pool, sale, email, faults)
        return jsonify({"order_id": placed.order_id, "sku": placed.sku, "price_fen": placed.price_fen,
                        "price": fen_to_yuan(placed.price_fen)}), 201

    @app.get("/api/v1/status")
    def status():
        with pool.connection() as db:
            return jsonify(orders.status(db, sale))

    return app
