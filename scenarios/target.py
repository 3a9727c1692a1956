"""The `target` section (contract 2): each abstract action mapped to an HTTP request.

Templates are Python format strings over four roots: `user` (the synthetic identity),
`session` (what earlier responses gave, see `extract`), `params` (the step's parameters) and
`link` (the share link a visitor follows). A value that is one whole template, such as
"{params.amount}", keeps its type; if it resolves to nothing, the key is left out.
"""

from __future__ import annotations

import dataclasses
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


def templates_in(value: Any, where: str) -> list[tuple[str, str]]:
    """(where, template) for every string in a request's parts."""
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, dict):
        return [t for key, item in value.items() for t in templates_in(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [t for n, item in enumerate(value) for t in templates_in(item, f"{where}.{n}")]
    return []


def _known_fields(session_keys: set[str]) -> dict[str, list[str]]:
    """The fields a template may name under each root but params (a step's params are free)."""
    from rehearse.personas.identity import Identity  # the identity is what {user.…} reads

    return {"user": sorted(f.name for f in dataclasses.fields(Identity)),
            "link": ["domain", "path", "url"],
            "session": sorted(session_keys)}


def _check_fields(where: str, template: str, known: dict[str, list[str]]) -> None:
    for name in template_fields(template):
        root, _, rest = name.partition(".")
        field = rest.split(".")[0].split("[")[0]
        if root in known and field and field not in known[root]:
            given = ", ".join(known[root]) or "none"
            fix = ("add it to some action's extract, or use one of those" if root == "session"
                   else "use one of those")
            raise ValueError(f"{where}: template {template!r} refers to {{{name}}}, but {root} has no "
                             f"field {field!r} (known: {given}); {fix}")


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
    def _fields_exist(self) -> "Target":
        """A misspelt field ({user.phnoe}) would send nothing, silently: refuse it here."""
        extracted = {key for request in self.actions.values() for key in request.extract}
        known = _known_fields(extracted)
        if self.adapter is not None:
            known.pop("session")  # an adapter keeps its own session
        parts = [(f"target.headers.{key}", value) for key, value in self.headers.items()]
        for section, mapping in (("actions", self.actions), ("operations", self.operations)):
            for name, request in mapping.items():
                for part in ("path", "query", "headers", "body"):
                    parts += templates_in(getattr(request, part), f"target.{section}.{name}.{part}")
        for where, template in parts:
            _check_fields(where, template, known)
        return self

    def missing_actions(self, offered: tuple[str, ...]) -> list[str]:
        """The offered actions this target cannot send: none with an adapter, else every offered
        action without a request under `actions` (an action the campaign does not offer needs none)."""
        if self.adapter is not None:
            return []
        return [a for a in offered if a not in self.actions]
