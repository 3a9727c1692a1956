"""Templates of the target mapping ({user.phone}, {session.token|bearer}) compiled once and
filled per request, and what answers leave in a participant's session (values, cookies).

    fill = compile_template("/api/users/{user.id}")
    fill({"user": user, "session": session})   # MISSING when a field has no value
"""

from __future__ import annotations

import string
from http.cookies import CookieError, SimpleCookie
from typing import Any, Callable, Mapping

from rehearse.client.errors import ContractError
from rehearse.scenarios.target import FILTERS

MISSING = object()
"""What a template with nothing to fill gives (no exception: this runs per request)."""

COOKIES = "_cookies"
"""The session key of the participant's cookie jar (name -> value); templates cannot name it."""

Compiled = Callable[[Mapping[str, Any]], Any]


class _Field:
    """A reference such as {user.phone} or {user.key|email}, resolved against the roots (dicts
    or objects), then passed through its filters."""

    __slots__ = ("name", "root", "parts", "filters")

    def __init__(self, name: str) -> None:
        self.name = name
        field, *filters = name.split("|")
        self.root, *self.parts = field.strip().split(".")
        self.filters = [FILTERS[f.strip()] for f in filters]  # checked when the scenario is read

    def get(self, roots: Mapping[str, Any]) -> Any:
        value = roots.get(self.root)
        for part in self.parts:
            if value is None:
                return MISSING
            value = value.get(part) if type(value) is dict else getattr(value, part, None)
        if value is None:
            return MISSING
        for apply in self.filters:
            value = apply(value)
        return value


def compile_template(template: Any) -> Compiled:
    """A function of the roots that fills the template; parsed once, run per request.

    A string that is one whole field keeps the value's type; in a mapping, a key whose value
    has nothing to fill is left out; anything else with a missing value gives MISSING. A field is
    filled as it is: a format spec or conversion ({user.phone:d}, {x!r}) is a ContractError (the
    scenario refuses them when it is read: `scenarios.target.check_template`)."""
    if isinstance(template, dict):
        items = [(key, compile_template(value)) for key, value in template.items()]

        def fill_mapping(roots: Mapping[str, Any]) -> dict[str, Any]:
            out = {}
            for key, fill in items:
                value = fill(roots)
                if value is not MISSING:
                    out[key] = value
            return out
        return fill_mapping
    if isinstance(template, list):
        fills = [compile_template(item) for item in template]

        def fill_list(roots: Mapping[str, Any]) -> Any:
            values = [fill(roots) for fill in fills]
            return MISSING if any(v is MISSING for v in values) else values
        return fill_list
    if not isinstance(template, str):
        return lambda roots: template
    try:
        pieces = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ContractError(f"template {template!r} does not parse ({exc})") from None
    if any(spec or conversion for _, name, spec, conversion in pieces if name is not None):
        raise ContractError(f"template {template!r} formats a field (a :spec or !conversion); templates fill "
                            "values as they are: write {root.field}")
    if all(name is None for _, name, _, _ in pieces):
        text = template.replace("{{", "{").replace("}}", "}")
        return lambda roots: text
    if len(pieces) == 1 and pieces[0][0] == "" and pieces[0][1] is not None:  # one piece, a field
        return _Field(pieces[0][1]).get
    parts = [(literal, _Field(name) if name is not None else None) for literal, name, _, _ in pieces]

    def fill_text(roots: Mapping[str, Any]) -> Any:
        out = []
        for literal, field_ref in parts:
            out.append(literal)
            if field_ref is not None:
                value = field_ref.get(roots)
                if value is MISSING:
                    return MISSING
                out.append(format(value, ""))
        return "".join(out)
    return fill_text


def dig(body: Any, path: str) -> Any:
    """The value at a dotted path in decoded JSON (list indexes allowed), or None."""
    value = body
    for part in path.split("."):
        if type(value) is dict:
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def header_values(headers: Any, name: str) -> list[str]:
    """Every value of a header in an answer's headers (httpx, geventhttpclient or a dict)."""
    if headers is None:
        return []
    for many in ("get_list", "getlist", "get_all"):  # httpx, geventhttpclient, http.client
        get_many = getattr(headers, many, None)
        if get_many is not None:
            return list(get_many(name) or ())
    value = headers.get(name)
    if value is None and isinstance(headers, dict):
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def set_cookies(headers: Any) -> dict[str, str | None]:
    """The cookies an answer sets (name -> value; None: deleted, by Max-Age=0 or no value)."""
    found: dict[str, str | None] = {}
    for line in header_values(headers, "set-cookie"):
        jar = SimpleCookie()
        try:
            jar.load(line)
        except CookieError:
            continue
        for name, morsel in jar.items():
            gone = morsel.value == "" or morsel["max-age"] in ("0", "-1")
            found[name] = None if gone else morsel.value
    return found


def remember(session: dict[str, Any], learned: Mapping[str, Any]) -> None:
    """Keep what an answer taught in the participant's session (its cookie jar merged)."""
    for key, value in learned.items():
        if key == COOKIES:
            jar = session.setdefault(COOKIES, {})
            for name, cookie in value.items():
                if cookie is None:
                    jar.pop(name, None)
                else:
                    jar[name] = cookie
        else:
            session[key] = value
