"""Where load may go: loopback only, unless the user opts in twice (flag and scenario); and
every request checked where it is sent, after its templates are filled.

`--host` names the run's target; `check_host` decides whether load may go there at all. Then
each request of every engine passes the transport seam (`Allowed.check`: the swarm's Locust
user, `guarded_client` for httpx, the budget race's volley): it must go to the target's own
origin (scheme, host and port), with no control characters in its path or headers, or it is
refused before a byte is sent (`OffLimits`). A redirect is an answer like any other: it is
never followed unless the mapping opts in (`target.follow_redirects`), and then only to the
target's own origin (`next_hop`), so neither a template filled with a value the target sent
back nor a `Location` header can aim the load elsewhere.
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from rehearse.scenarios.errors import RehearseError, UsageError

REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # in a path: control characters (a request split)
_UNSAFE = re.compile(r"[^\x21-\x7e]")  # in a path: what must be percent-encoded before sending
PATH_SAFE = "/:@!$&'()*+,;=-._~%?#[]"
_HEADER_VALUE_BAD = re.compile(r"[^\t\x20-\x7e]")  # CR, LF, NUL and other controls; non-ASCII
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 token)


class OffLimits(RehearseError):
    """A request that would leave the run's target (another host or port, a header that would
    split the request): refused before sending. The mapping or the adapter must be fixed."""

    exit_code = 2


@dataclass(frozen=True)
class Origin:
    """Scheme, host and port: where a connection goes."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> "Origin":
        parts = urlsplit(url)
        scheme = (parts.scheme or "").lower()
        try:
            port = parts.port
        except ValueError:
            port = -1
        default = {"http": 80, "https": 443}.get(scheme, -1)
        return cls(scheme, (parts.hostname or "").lower(), default if port is None else port)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


class Allowed:
    """The origins one run's requests may go to: its target's (and nothing else)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.origins = frozenset({Origin.of(self.base_url)})

    def url_of(self, path: str) -> str:
        """The URL a request to `path` goes to: the target's base URL and the path."""
        return path if _ABSOLUTE.match(path) else self.base_url + path

    def check(self, url: str, headers: Any = None, action: str = "") -> None:
        """Refuse a request to `url` (a path under the target, or an absolute URL) that would
        go to another origin, or whose path or headers would split the request (CR, LF, NUL or
        another control character). A path beginning with one "/" is appended to the target's
        base URL, so its origin is the target's: only its characters are checked (per request,
        cheaply)."""
        what = f"the {action} request" if action else "a request"
        path = url
        if url[:1] != "/" or url[:2] == "//":
            parts = urlsplit(self.url_of(url))
            if Origin.of(self.url_of(url)) not in self.origins:
                raise OffLimits(f"{what} was aimed at {parts.scheme}://{parts.netloc}, not the run's target "
                                f"{self.base_url}: refused before sending; a mapped path must be a path on "
                                "the target (begin with /) and never take its host from a value the target "
                                "sent")
            path = parts.path + parts.query
        if _CONTROL.search(path):
            raise OffLimits(f"{what} has a control character in its path {path[:80]!r}: refused before "
                            "sending (it would split the request); a value filled into the path must be "
                            "URL-safe")
        if headers is not None:
            for name, value in headers.items():
                if not _TOKEN.match(str(name)) or _HEADER_VALUE_BAD.search(str(value)):
                    raise OffLimits(f"{what} has a header {str(name)[:40]!r} that cannot be sent as it is "
                                    "(a name that is not a token, or a control character or non-ASCII text "
                                    "in its value, which could split the request): refused before sending; "
                                    "encode the value (e.g. percent-encoding or base64) in the mapping")

    def next_hop(self, url: str, status: int, headers: Any) -> str | None:
        """Where a redirect answer points, if it may be followed: on the target's own origin
        (None: not a redirect, no Location, or elsewhere; the redirect is then the answer)."""
        if status not in REDIRECTS:
            return None
        location = _location(headers)
        if not location:
            return None
        hop = urljoin(self.url_of(url), location.strip())
        try:
            self.check(hop)
        except OffLimits:
            return None
        return hop


_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # has a scheme: not a path under the target


def url_safe(path: str) -> str:
    """A path as it goes on the wire: spaces and non-ASCII percent-encoded (as httpx does),
    control characters kept so the check refuses them."""
    if not _UNSAFE.search(path):
        return path
    return "".join(ch if ch < " " or ch == "\x7f" else quote(ch, safe=PATH_SAFE) for ch in path)


def _location(headers: Any) -> str:
    if headers is None:
        return ""
    value = headers.get("location") or headers.get("Location")
    return str(value) if value else ""


class GuardedTransport(httpx.BaseTransport):
    """httpx's transport seam with the run's `Allowed` check before every request (redirects
    included: httpx sends each hop through its transport)."""

    def __init__(self, allowed: Allowed, inner: httpx.BaseTransport) -> None:
        self.allowed = allowed
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.allowed.check(str(request.url), request.headers)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def guarded_client(base_url: str, timeout: float, limits: httpx.Limits | None = None) -> httpx.Client:
    """An httpx client for one target: every request checked at the transport, redirects never
    followed by httpx (the contract's senders follow them where the mapping asks)."""
    inner = httpx.HTTPTransport(limits=limits or httpx.Limits(max_connections=100, max_keepalive_connections=20))
    return httpx.Client(base_url=base_url, timeout=timeout, follow_redirects=False,
                        transport=GuardedTransport(Allowed(base_url), inner))


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(url: str, allow_remote: bool, allow_list: list[str]) -> str:
    """The host of url if load may go there; otherwise a UsageError saying how to opt in."""
    example = "expected a URL such as http://127.0.0.1:8700"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:  # a bracket left open, a port out of range or not a number
        raise UsageError(f"--host {url}: {exc}; {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--host {url}: {example}")
    if port == 0:
        raise UsageError(f"--host {url}: port 0 cannot be connected to; {example}")
    if any(ch.isspace() for ch in url.strip()) or parts.query or parts.fragment:
        raise UsageError(f"--host {url}: give only scheme, host and port (and a base path); {example}")
    if parts.username is not None or parts.password is not None:
        raise UsageError(f"--host {parts.scheme}://***@{parts.hostname}: credentials in the URL would go "
                         "with every request and into the run's facts; give the host alone, and the "
                         "backend's token with --ops-token or in target.headers")
    host = parts.hostname
    if is_loopback(host):
        return host
    if not allow_remote:
        raise UsageError(f"--host {url}: {host} is not a loopback address; load goes to 127.0.0.1 "
                         "only unless you pass --allow-remote and list the host in the scenario's "
                         "target.allow_remote_hosts")
    if host not in allow_list:
        raise UsageError(f"--host {url}: {host} is not in the scenario's target.allow_remote_hosts "
                         f"({', '.join(allow_list) or 'empty'}); add it there to allow load on it")
    return host


class TargetSilent(RehearseError):
    """A target that answered before (an earlier phase played against it) and stopped answering:
    a finding about the target, judged with what was measured, not bad input."""

    exit_code = 1

    def __init__(self, host: str, waited_s: float, said: str) -> None:
        super().__init__(f"{host} did not answer for {waited_s:,.0f} s ({said})")
        self.host, self.waited_s, self.said = host, waited_s, said


def _answers(host: str, timeout: float) -> str | None:
    """None if the target answers (any status) within `timeout`, else what the transport said."""
    try:
        httpx.get(host.rstrip("/") + "/", timeout=timeout)
        return None
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc or 'no answer'}"


def check_reachable(host: str, wait_s: float = 0.0, ticker=time.monotonic, pause=time.sleep) -> None:
    """A given target must answer (any status) before load is sent to it. With `wait_s` (a target
    that answered an earlier phase, maybe still recovering from it) it is asked again until it
    answers, for up to `wait_s`, and then it is a `TargetSilent` finding; without, bad input."""
    said = _answers(host, 5.0)
    if said is None:
        return
    if wait_s <= 0:
        raise UsageError(f"--host {host}: nothing answers there ({said}); start the backend, or check the "
                         "scheme, host and port")
    began = ticker()
    while (left := wait_s - (ticker() - began)) > 0:
        pause(min(1.0, left))
        said = _answers(host, max(0.5, min(5.0, wait_s - (ticker() - began))))
        if said is None:
            return
    raise TargetSilent(host, wait_s, said)
