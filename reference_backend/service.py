"""The reference campaign's rules, free of HTTP: the route handlers only translate.

A rule refusal raises `Refused(status, code, message)`; the status classes are the ones the
bundled target contract treats as refusals: 403 not allowed, 409 already done or exhausted,
423 locked until something else happens, 429 slow down.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import secrets
from dataclasses import dataclass, field

from rehearse.reference_backend.clock import Clock
from rehearse.reference_backend.ratelimit import TokenBuckets
from rehearse.reference_backend.store import Store
from rehearse.scenarios import Scenario

PHONE = re.compile(r"^1\d{10}$")


def payout_signature(key: str, device_id: str) -> str:
    """The signature the campaign page hands a device; payout calls must carry it."""
    return hmac.new(key.encode(), device_id.encode(), hashlib.sha256).hexdigest()[:20]


class Refused(Exception):
    """A request the campaign's rules turn down (or a bad request)."""

    def __init__(self, status: int, code: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


@dataclass
class Settings:
    payment_latency_s: float = 0.005  # the simulated call to the payment provider
    slow_open_s: float = 0.2  # the work the slow-open fault adds to each open
    slow_open_slots: int = 4


@dataclass
class CampaignService:
    scenario: Scenario
    store: Store
    clock: Clock
    faults: frozenset[str] = frozenset()
    rng: random.Random = field(default_factory=random.Random)
    settings: Settings = field(default_factory=Settings)
    user_limits: TokenBuckets | None = None
    ip_limits: TokenBuckets | None = None

    def __post_init__(self) -> None:
        limits = self.scenario.antifraud.rate_limits
        # Limits count campaign seconds, so a compressed rehearsal is judged like the real campaign.
        if limits is not None:
            self.user_limits = self.user_limits or TokenBuckets(
                limits.per_user.per_second, limits.per_user.burst, ticker=self.clock.now)
            self.ip_limits = self.ip_limits or TokenBuckets(
                limits.per_ip.per_second, limits.per_ip.burst, ticker=self.clock.now)
        self.monitor = self.scenario.fund_loss_plan()
        self._sessions: dict[str, int] = {}
        self._slowdowns: dict[str, tuple[float, float]] = {}  # action -> (factor, until campaign t)
        self._next_domain = 0

    # --- time, phase and guards ------------------------------------------------------------

    def slow_down(self, actions: list[str], factor: float, duration: float) -> None:
        """A drill's slowdown: these actions' work takes `factor` times as long for `duration`
        campaign seconds (the scenario's backend_model service time sets the work)."""
        until = self.now() + duration
        for action in actions:
            self._slowdowns[action] = (factor, until)

    def slowdown_s(self, action: str) -> float:
        """Wall seconds of extra work for `action` now (0 when it is not slowed)."""
        if not self._slowdowns:
            return 0.0
        factor, until = self._slowdowns.get(action, (1.0, 0.0))
        spec = self.scenario.backend_model.actions.get(action)  # type: ignore[call-overload]
        if factor <= 1.0 or spec is None or self.now() >= until:
            return 0.0
        return float(spec.service_time) * (factor - 1.0)

    def now(self) -> float:
        return self.clock.now()

    def phase(self) -> str:
        return self.scenario.campaign.phases.phase_at(self.now())

    def require_live(self) -> None:
        phase = self.phase()
        if phase == "live" or (phase in ("before", "preheat") and "preheat-leak" in self.faults):
            return
        if phase in ("before", "preheat"):
            raise Refused(403, "not_started", "the campaign has not started: during the preheat "
                          "you can view the page and the rules", starts_in_s=round(-self.now(), 1))
        raise Refused(403, "ended", "the campaign has ended")

    def antifraud_on(self) -> bool:
        return "no-antifraud" not in self.faults

    def check_ip(self, ip: str) -> None:
        if self.antifraud_on() and self.ip_limits is not None and not self.ip_limits.allow(ip):
            raise Refused(429, "rate_limited", f"too many requests from {ip}; slow down")

    def check_user_rate(self, user_id: int) -> None:
        if self.antifraud_on() and self.user_limits is not None and not self.user_limits.allow(f"u{user_id}"):
            raise Refused(429, "rate_limited", "too many requests for this account; slow down")

    def sign(self, device_id: str | None) -> str | None:
        """The payout signature the page hands a device (None without a device id)."""
        if not device_id:
            return None
        return payout_signature(self.store.meta("sign_key") or "", device_id)

    def check_signature(self, device_id: str | None, signature: str | None) -> None:
        """Payouts need the page's signature: a script calling the interface directly has none."""
        if not (self.scenario.antifraud.signed_payouts and self.antifraud_on()):
            return
        expected = self.sign(device_id)
        if expected is None or not signature or not hmac.compare_digest(expected, signature):
            raise Refused(403, "unsigned_request", "payout calls must carry the signature the campaign "
                          "page hands out (header X-Sign, with the same X-Device-Id)")

    def authenticate(self, token: str | None) -> int:
        if not token:
            raise Refused(401, "login_required", "log in first: send Authorization: Bearer <token>")
        user_id = self._sessions.get(token)
        if user_id is None:
            user_id = self.store.session_user(token)
            if user_id is None:
                raise Refused(401, "bad_token", "unknown session token; log in again")
            self._sessions[token] = user_id
        self.check_user_rate(user_id)
        return user_id

    # --- the page --------------------------------------------------------------------------

    def campaign_info(self, channel_id: str | None, device_id: str | None = None) -> dict:
        """The landing page: phase, countdown, institutions, the device's payout signature.
        Counts a page view per channel."""
        if channel_id:
            self.store.count_step(self._known_channel(channel_id), "page_view")
        phases = self.scenario.campaign.phases
        t = self.now()
        return {
            "campaign": self.scenario.name,
            "title": self.scenario.campaign.title,
            "phase": self.phase(),
            "t": round(t, 3),
            "starts_in_s": round(max(0.0, -t), 1),
            "ends_in_s": round(max(0.0, phases.live_s - t), 1),
            "launch": phases.launch.isoformat(),
            "end": phases.end.isoformat(),
            "institutions": [
                {"id": i.id, "name": i.name, "tasks": [task.id for task in i.tasks]}
                for i in self.scenario.campaign.institutions
            ],
            "sign": self.sign(device_id),
        }

    def rules(self) -> dict:
        """The rules in plain words: those of the features this campaign has."""
        c = self.scenario.campaign
        rules = {
            "preheat": "during the preheat the page and these rules can be viewed; taking part opens at launch"
            if c.phases.has_preheat else "taking part opens at launch",
            "envelopes": "complete all of an institution's tasks to open its red envelope, once per person",
        }
        if c.grand_round is not None:
            rules["grand_round"] = (f"open all {len(c.institutions)} envelopes to join the grand round "
                                    f"(top prize {c.grand_round.top_prize.amount_fen / 100:g} yuan)")
        if c.invite is not None:
            rules["invite"] = (f"invite {c.invite.friends_required} new friends to earn an extra envelope "
                               f"(at most {c.invite.max_rewards_per_user})")
        if c.follow is not None:
            rules["follow"] = f"follow {c.follow.account}" + (" (required for the grand round)"
                                                              if c.follow_required else "")
        rules["phone"] = "log in with a mainland mobile number; virtual-operator numbers are not accepted"
        return rules

    def require_offered(self, action: str) -> None:
        """A feature the campaign leaves out (no grand round, invite reward, account to follow)
        answers 404, like a route this backend does not have."""
        why = self.scenario.lacks(action)
        if why is not None:
            raise Refused(404, "not_offered", why)

    def _known_channel(self, channel_id: str) -> str:
        return channel_id if channel_id in self.scenario.traffic.channel_ids() else "other"

    # --- login and invites -----------------------------------------------------------------

    def login(self, phone: object, channel_id: str | None, invite_code: str | None,
              device_id: str | None) -> dict:
        self.require_live()
        if not isinstance(phone, str) or not PHONE.match(phone):
            raise Refused(400, "bad_phone", "phone must be an 11-digit mainland mobile number starting with 1")
        if self.antifraud_on():
            if self.scenario.antifraud.is_virtual(phone):
                raise Refused(403, "virtual_number", "virtual-operator numbers cannot take part")
            if self.store.is_blacklisted(phone):
                raise Refused(403, "blacklisted", "this account cannot take part")
        channel = self._known_channel(channel_id or "other")
        t = self.now()
        with self.store.transaction():
            user = self.store.user_by_phone(phone)
            new_user = user is None
            counted = False
            if user is None:
                inviter = self.store.user_by_invite_code(invite_code) if invite_code else None
                user = self.store.create_user(phone, channel, inviter["id"] if inviter else None, device_id, t)
                assert user is not None  # the phone was free, and this transaction holds the write lock
                self.store.count_step(channel, "new_user")
                if inviter is not None:
                    self.store.count_invite(inviter["id"])
                    self.store.count_step(channel, "invited_user")
                    counted = True
            self.store.count_step(channel, "login")
            token = self.store.new_session(user["id"])
        self._sessions[token] = user["id"]
        return {"token": token, "user_id": user["id"], "invite_code": user["invite_code"],
                "new_user": new_user, "invite_counted": counted}

    def me(self, user_id: int) -> dict:
        user = self.store.user(user_id)
        c = self.scenario.campaign
        return {
            "user_id": user_id,
            "channel_id": user["channel_id"],
            "invite_code": user["invite_code"],
            "invites_counted": user["invites_counted"],
            "invite_rewards_earned": self.invite_rewards_earned(user["invites_counted"]),
            "envelopes_opened": [i.id for i in c.institutions if self.store.has_claim(user_id, f"env:{i.id}")],
            "grand_draws": self.store.claims_like(user_id, "grand:"),
            "followed": bool(user["followed"]),
        }

    def invite_rewards_earned(self, invites_counted: int) -> int:
        invite = self.scenario.campaign.invite
        if invite is None:
            return 0
        return min(invites_counted // invite.friends_required, invite.max_rewards_per_user)

    # --- tasks, follow, share --------------------------------------------------------------

    def complete_task(self, user_id: int, institution_id: str, task_id: str) -> dict:
        self.require_live()
        institution = self._institution(institution_id)
        if task_id not in {t.id for t in institution.tasks}:
            raise Refused(404, "unknown_task", f"{institution_id} has no task {task_id!r}")
        cap = self.scenario.campaign.caps.task_completions_per_user
        if not self.store.bump_user(user_id, "task_completions", cap):
            raise Refused(409, "cap_reached", f"at most {cap} task completions per person")
        first_ever = self.store.count_tasks(user_id) == 0
        new = self.store.complete_task(user_id, institution_id, task_id, self.now())
        if new and first_ever:
            self.store.count_step(self.store.user(user_id)["channel_id"], "first_task")
        done = self.store.tasks_done(user_id, institution_id)
        return {"institution": institution_id, "task": task_id, "already_done": not new,
                "done": sorted(done), "envelope_unlocked": done >= {t.id for t in institution.tasks}}

    def follow(self, user_id: int) -> dict:
        self.require_offered("follow")
        self.require_live()
        if self.store.set_followed(user_id):
            self.store.count_step(self.store.user(user_id)["channel_id"], "follow")
        return {"followed": True, "account": self.scenario.campaign.follow.account}  # type: ignore[union-attr]

    def share(self, user_id: int, channel_id: str | None) -> dict:
        self.require_live()
        cap = self.scenario.campaign.caps.shares_per_user
        if not self.store.bump_user(user_id, "shares", cap):
            raise Refused(409, "cap_reached", f"at most {cap} share links per person")
        domain = self.pick_domain()
        if domain is None:
            raise Refused(503, "no_domain", "no healthy link domain is left in the pool")
        user = self.store.user(user_id)
        channel = self._known_channel(channel_id or user["channel_id"])
        code = secrets.token_urlsafe(6)
        self.store.issue_link(code, user_id, domain, channel, self.now())
        self.store.count_step(user["channel_id"], "share")
        return {"url": f"https://{domain}/s/{code}?ch={channel}", "domain": domain, "code": code,
                "invite_code": user["invite_code"]}

    def issuing_domains(self) -> list[str]:
        """The domains share links are issued on: the active ones (and the banned ones too,
        under the no-failover fault)."""
        usable = ("active", "banned") if "no-failover" in self.faults else ("active",)
        return [d["domain"] for d in self.store.domains() if d["state"] in usable]

    def pick_domain(self) -> str | None:
        """Round-robin over the issuing domains."""
        pool = self.issuing_domains()
        if not pool:
            return None
        self._next_domain += 1
        return pool[self._next_domain % len(pool)]

    def visit_link(self, code: str, host: str | None, device_id: str | None = None) -> dict:
        link = self.store.link(code)
        if link is None:
            raise Refused(404, "unknown_link", f"no share link {code!r}")
        domain = (host or link["domain"]).split(":")[0]
        self.store.count_visit(domain)
        self.store.count_step(link["channel_id"], "link_visit")
        inviter = self.store.user(link["user_id"])
        return {"invite_code": inviter["invite_code"], "channel_id": link["channel_id"],
                "domain": domain, "phase": self.phase(), "sign": self.sign(device_id)}

    def _institution(self, institution_id: str):
        institution = self.scenario.campaign.institution(institution_id)
        if institution is None:
            raise Refused(404, "unknown_institution", f"no institution {institution_id!r}")
        return institution
