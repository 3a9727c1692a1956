"""The `target` section (contract 2): each abstract action mapped to an HTTP request.

Templates are Python format strings over four roots: `user` (the synthetic identity),
`session` (what earlier responses gave, see `extract`), `params` (the step's parameters) and
`link` (the share link a visitor follows). A value that is one whole template, such as
"{params.amount}", keeps its type; if it resolves to nothing, the key is left out.
"""

from __future__ import annotations

import string
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from rehearse.scenarios.base import Section

ACTIONS = (
    "open_page",
    "view_rules",
    "login",
    "complete_task",
    "open_envelope",
    "open_invite_envelope",
    "grand_draw",
    "share",
    "visit_link",
    "follow",
)
OPERATIONS = ("report_ban", "ledger", "link_pool", "stats", "set_clock")
TEMPLATE_ROOTS = ("user", "session", "params", "link")
ActionName = Literal[
    "open_page",
    "view_rules",
    "login",
    "complete_task",
    "open_envelope",
    "open_invite_envelope",
    "grand_draw",
    "share",
    "visit_link",
    "follow",
]
OperationName = Literal["report_ban", "ledger", "link_pool", "stats", "set_clock", "slowdown", "limit_pool",
                        "topup"]


def template_fields(text: str) -> list[str]:
    """The field names a template refers to, e.g. ["user.phone"] for "{user.phone}"."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ValueError(f"template {text!r} does not parse: {exc}") from None


def _check_templates(value: Any) -> None:
    if isinstance(value, str):
        for name in template_fields(value):
            root = name.split(".")[0].split("[")[0]
            if root not in TEMPLATE_ROOTS:
                raise ValueError(
                    f"template {value!r} refers to {{{name}}}; a template may use only "
                    f"{', '.join('{' + r + '.…}' for r in TEMPLATE_ROOTS)}"
                )
    elif isinstance(value, dict):
        for item in value.values():
            _check_templates(item)
    elif isinstance(value, list):
        for item in value:
            _check_templates(item)


class HttpRequest(Section):
    """One action as an HTTP request, and how to read its response."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: Annotated[str, Field(pattern=r"^(/|\{)")]
    query: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | None = None
    extract: dict[str, str] = Field(
        default_factory=dict, description="session key: dotted path into the JSON response"
    )
    payout_field: str | None = Field(
        default=None, description="dotted path of the amount paid, in fen, in the response"
    )
    refused: list[Annotated[int, Field(ge=100, le=599)]] | None = Field(
        default=None, description="statuses that mean 'refused by the rules'; default: target's"
    )
    link_host: bool = Field(default=False, description="send the link's domain as Host header")

    @model_validator(mode="after")
    def _templates(self) -> "HttpRequest":
        _check_templates(self.path)
        _check_templates(self.query)
        _check_templates(self.headers)
        _check_templates(self.body)
        return self


class Target(Section):
    """How the harness talks to a campaign backend: a declarative mapping, or an adapter class."""

    adapter: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="module:Class"
    )
    headers: dict[str, str] = Field(default_factory=dict)
    refused: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=lambda: [403, 409, 423, 429]
    )
    actions: dict[ActionName, HttpRequest] = Field(default_factory=dict)
    operations: dict[OperationName, HttpRequest] = Field(default_factory=dict)
    allow_remote_hosts: list[str] = Field(default_factory=list)

    @field_validator("headers")
    @classmethod
    def _header_templates(cls, headers: dict[str, str]) -> dict[str, str]:
        _check_templates(headers)
        return headers

    @model_validator(mode="after")
    def _complete(self) -> "Target":
        if self.adapter is None:
            missing = [a for a in ACTIONS if a not in self.actions]
            if missing:
                raise ValueError(
                    f"no request mapped for {', '.join(missing)}: map every action under "
                    "target.actions, or name an adapter class (target.adapter: module:Class)"
                )
        return self
