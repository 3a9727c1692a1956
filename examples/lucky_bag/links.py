"""Share-link domains: the primaries issue links round-robin; a reported ban swaps in the next
standby backup. Under the slow-failover fault a ban takes effect SLOW_FAILOVER_S late."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Domain:
    name: str
    role: str  # "primary" | "backup"
    state: str  # "active" | "standby" | "banned"
    issued: int = 0
    visits: int = 0
    reported_t: float | None = None  # when operations reported the ban


class DomainPool:
    def __init__(self, primaries: tuple[str, ...], backups: tuple[str, ...], failover_delay_s: float = 0.0) -> None:
        self.domains = {d: Domain(d, "primary", "active") for d in primaries}
        self.domains.update({d: Domain(d, "backup", "standby") for d in backups})
        self.failover_delay_s = failover_delay_s
        self._pending: list[tuple[float, str]] = []  # (when the ban takes effect, domain)
        self._turn = 0

    def report_ban(self, name: str, now: float) -> bool:
        """Operations report `name` banned; False if it was reported already. KeyError if unknown."""
        domain = self.domains[name]
        if domain.reported_t is not None:
            return False
        domain.reported_t = now
        self._pending.append((now + self.failover_delay_s, name))
        self.apply_due(now)
        return True

    def apply_due(self, now: float) -> None:
        """Act on the reported bans whose time has come: stop issuing, promote a backup."""
        due = [name for at, name in self._pending if at <= now]
        if not due:
            return
        self._pending = [(at, name) for at, name in self._pending if at > now]
        for name in due:
            self.domains[name].state = "banned"
            standby = next((d for d in self.domains.values() if d.state == "standby"), None)
            if standby is not None:
                standby.state = "active"

    def issuing(self, now: float) -> list[str]:
        self.apply_due(now)
        return [d.name for d in self.domains.values() if d.state == "active"]

    def issue(self, now: float) -> str | None:
        """The domain for the next share link (round-robin), or None when none is left."""
        pool = self.issuing(now)
        if not pool:
            return None
        self._turn += 1
        name = pool[self._turn % len(pool)]
        self.domains[name].issued += 1
        return name

    def count_visit(self, name: str) -> None:
        domain = self.domains.get(name)
        if domain is not None:
            domain.visits += 1

    def by_state(self, now: float) -> dict[str, list[str]]:
        self.apply_due(now)
        return {state: [d.name for d in self.domains.values() if d.state == state]
                for state in ("active", "standby", "banned")}
