"""Reading a target's answer as the mapping says: `extract` entries (a session value from the
body, a header or a cookie), conditions (`ok_when`, `refused_when`, ...), and share links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

from rehearse.client.templates import dig, header_values
from rehearse.scenarios.target import Condition, parse_extract


@dataclass(frozen=True)
class Link:
    """A share link as templates see it: {link.url}, {link.domain}, {link.path}."""

    url: str
    domain: str
    path: str

    @classmethod
    def parse(cls, url: str) -> "Link":
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return cls(url=url, domain=parts.hostname or "", path=path)


def _transform(value: Any, kind: str, argument: str) -> Any:
    if value is None:
        return None
    if kind == "host":
        return urlsplit(str(value)).hostname
    if kind == "path":
        return Link.parse(str(value)).path
    found = re.search(argument, str(value))  # regex: the first group, else the whole match
    if found is None:
        return None
    return found.group(1) if found.groups() else found.group(0)


@dataclass(frozen=True)
class Extract:
    """One `extract` entry: where a session value comes from in an answer."""

    key: str
    source: str  # body, header or cookie
    name: str  # a body path, a header name or a cookie name
    transforms: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, key: str, spec: str) -> "Extract":
        source, name, transforms = parse_extract(spec)
        return cls(key, source, name, tuple(transforms))

    def value(self, decoded: Any, headers: Any, cookies: Mapping[str, str | None]) -> Any:
        if self.source == "body":
            value = dig(decoded, self.name)
        elif self.source == "header":
            values = header_values(headers, self.name)
            value = values[0] if values else None
        else:
            value = cookies.get(self.name)
        for kind, argument in self.transforms:
            value = _transform(value, kind, argument)
        return value


def holds(condition: Condition, decoded: Any, headers: Any = None) -> bool:
    if condition.header is not None:
        values = header_values(headers, condition.header)
        value = values[0] if values else None
    else:
        assert condition.path is not None  # a Condition names a path or a header (its validator)
        value = dig(decoded, condition.path)
    if condition.exists is not None:
        return (value is not None) == condition.exists
    if condition.in_ is not None:
        return any(_same(value, wanted) for wanted in condition.in_)
    return _same(value, condition.equals)


def _same(value: Any, wanted: Any) -> bool:
    """Equal, with a number and its string alike ("0" is 0: codes come both ways)."""
    if value == wanted:
        return True
    if isinstance(value, (int, float, str)) and isinstance(wanted, (int, float, str)):
        return str(value).strip() == str(wanted).strip()
    return False
