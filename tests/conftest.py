"""Shared fixtures: scenarios with what-if overrides, and the reference backend on loopback."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from rehearse.reference_backend.app import Backend
from rehearse.reference_backend.clock import ManualClock
from rehearse.reference_backend.server import RunningBackend, running_backend
from rehearse.reference_backend.service import Settings
from rehearse.scenarios import Scenario, load_scenario


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The live tier (a backend and a load generator each, one at a time in xdist's "live"
    group) also carries the `live` mark: `pytest -m live` runs it alone, `-m "not live"` the rest."""
    for item in items:
        if any(mark.args[:1] == ("live",) for mark in item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.live)


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return load_scenario()


# Tests of other rules act faster than a person; rate-limit tests set their own limits.
ROOMY_RATE_LIMITS = ("antifraud.rate_limits.per_user={per_second: 10000, burst: 10000}",
                     "antifraud.rate_limits.per_ip={per_second: 10000, burst: 10000}")


@pytest.fixture
def start_backend(tmp_path: Path):
    """Start a reference backend on a free loopback port: start_backend(*overrides, faults=...)."""

    @contextmanager
    def start(*overrides: str, faults: tuple[str, ...] = (), t: float = 60.0,
              settings: Settings | None = None) -> Iterator["LiveBackend"]:
        clock = ManualClock(t)
        backend = Backend(load_scenario(overrides=ROOMY_RATE_LIMITS + overrides), tmp_path / f"b{len(list(tmp_path.iterdir()))}.sqlite3",
                          frozenset(faults), clock=clock, seed=7, settings=settings)
        with running_backend(backend) as running:
            with httpx.Client(base_url=running.url, timeout=20) as client:
                yield LiveBackend(running, client, clock)

    return start


class LiveBackend:
    """A running backend, an HTTP client for it, and its campaign clock."""

    def __init__(self, running: RunningBackend, client: httpx.Client, clock: ManualClock) -> None:
        self.running = running
        self.url = running.url
        self.http = client
        self.clock = clock
        self.ops = {"X-Ops-Token": running.backend.ops_token}
        self._ips = 0

    def login(self, phone: str, **body) -> httpx.Response:
        self._ips += 1
        return self.http.post("/api/login", json={"phone": phone, "channel_id": "main_venue", **body},
                              headers={"X-Forwarded-For": f"10.9.{self._ips // 250}.{self._ips % 250}"})

    def user(self, phone: str, **body) -> dict:
        """Log a new user in after viewing the page; the headers that act as them (signed)."""
        response = self.login(phone, **body)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}",
                "X-Forwarded-For": f"10.8.{self._ips // 250}.{self._ips % 250}",
                **self.signed(f"device-{phone}")}

    def signed(self, device_id: str) -> dict:
        """The device id and the payout signature the campaign page hands that device."""
        page = self.http.get("/api/campaign", headers={"X-Device-Id": device_id})
        return {"X-Device-Id": device_id, "X-Sign": page.json()["sign"]}

    def post(self, path: str, who: dict, **kwargs) -> httpx.Response:
        return self.http.post(path, headers=who, **kwargs)

    def unlock(self, who: dict, institution: str) -> None:
        for task in self.running.backend.service.scenario.campaign.institution(institution).tasks:
            r = self.post(f"/api/institutions/{institution}/tasks/{task.id}", who)
            assert r.status_code == 200, r.text

    def ledger(self) -> dict:
        return self.http.get("/ops/ledger", headers=self.ops).json()
