"""Where load may go: loopback only, unless the user opts in twice (flag and scenario)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx

from rehearse.scenarios.errors import UsageError


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


def check_reachable(host: str) -> None:
    """A given target must answer (any status) before load is sent to it."""
    try:
        httpx.get(host.rstrip("/") + "/", timeout=5)
    except httpx.HTTPError as exc:
        raise UsageError(f"--host {host}: nothing answers there ({type(exc).__name__}: {exc or 'no answer'}); "
                         "start the backend, or check the scheme, host and port") from None
