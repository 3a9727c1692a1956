"""The campaign's rules for participants, free of HTTP: the routes only translate.

Each method returns the answer's `data` or raises Refusal. All state is in memory; the
event loop runs one handler at a time between awaits, and the only await on a money path is
the payment call (see wallet.py), so no other state needs a lock.
"""

from __future__ import annotations

import random
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field

from examples.lucky_bag.campaign import Campaign, Institution
from examples.lucky_bag.clock import CampaignClock
from examples.lucky_bag.codes import Code, Refusal
from examples.lucky_bag.faults import LEAKY_SEGMENTS_KNOWN, SLOW_FAILOVER_S
from examples.lucky_bag.idempotency import IdempotencyKeys
from examples.lucky_bag.limits import TokenBuckets
from examples.lucky_bag.links import DomainPool
from examples.lucky_bag.money import yuan
from examples.lucky_bag.wallet import Wallet

MOBILE = re.compile(r"^1\d{10}$")


@dataclass
class User:
    uid: int
    mobile: str
    channel: str
    invite_code: str
    inviter: int | None = None
    friends: int = 0  # new users who logged in with this user's invite code
    tasks: dict[str, set[str]] = field(default_factory=dict)
    task_count: int = 0
    shares: int = 0
    followed: bool = False


@dataclass(frozen=True)
class Session:
    uid: int
    sign_key: str  # keys the payout signature (signing.py)


class Game:
    def __init__(self, campaign: Campaign, clock: CampaignClock, faults: frozenset[str] = frozenset(),
                 rng: random.Random | None = None, payment_latency_s: float = 0.005) -> None:
        self.campaign, self.clock, self.faults = campaign, clock, faults
        self.rng = rng or random.Random()
        self.wallet = Wallet(campaign.budgets_fen, faults, payment_latency_s)
        self.keys = IdempotencyKeys()
        self.links = DomainPool(campaign.primary_domains, campaign.backup_domains,
                                SLOW_FAILOVER_S if "slow-failover" in faults else 0.0)
        self.user_limits = TokenBuckets(campaign.per_user.per_second, campaign.per_user.burst, clock.now)
        self.ip_limits = TokenBuckets(campaign.per_ip.per_second, campaign.per_ip.burst, clock.now)
        self.users: dict[int, User] = {}
        self.by_mobile: dict[str, User] = {}
        self.by_invite_code: dict[str, User] = {}
        self.sessions: dict[str, Session] = {}
        self.link_owner: dict[str, int] = {}  # share code -> uid
        self.counts: Counter[str] = Counter()  # what happened, for /ops/stats

    # --- guards ------------------------------------------------------------------------------

    def phase(self) -> str:
        return self.campaign.phase(self.clock.now())

    def require_live(self) -> None:
        phase = self.phase()
        if phase in ("before", "preheat"):
            raise Refusal(Code.NOT_STARTED, "the campaign has not started: look around, "
                          f"bags open in {-self.clock.now():,.0f} s")
        if phase == "ended":
            raise Refusal(Code.ENDED, "the campaign has ended")

    def check_ip(self, ip: str) -> None:
        if not self.ip_limits.allow(ip):
            raise Refusal(Code.RATE_LIMITED, "too many requests from your network; slow down")

    def session(self, sid: str | None) -> Session:
        """The session of the SID cookie (and one token of the account's rate limit)."""
        session = self.sessions.get(sid or "")
        if session is None:
            raise Refusal(Code.NOT_LOGGED_IN, "log in first (the SID cookie is missing or unknown)")
        if not self.user_limits.allow(str(session.uid)):
            raise Refusal(Code.RATE_LIMITED, "too many requests from your account; slow down")
        return session

    def is_virtual(self, mobile: str) -> bool:
        segments = LEAKY_SEGMENTS_KNOWN if "leaky-segments" in self.faults else self.campaign.virtual_segments
        return mobile.startswith(tuple(segments))

    # --- the page ----------------------------------------------------------------------------

    def home(self, channel: str | None) -> dict:
        """The campaign page: phase, countdown, sponsors and their tasks. Open in every phase."""
        self.counts["page_views"] += 1
        t = self.clock.now()
        return {"phase": self.phase(), "t": round(t, 3), "starts_in": max(0, round(-t)),
                "ends_in": max(0, round(self.campaign.live_s - t)), "channel": channel or "",
                "sponsors": [{"inst": i.id, "name": i.name, "tasks": list(i.tasks),
                              "bag": f"{yuan(i.min_fen)}-{yuan(i.max_fen)}"} for i in self.campaign.institutions]}

    def rules(self) -> dict:
        c = self.campaign
        return {"rules": [
            "during the preheat you may look at the page and these rules; bags open at launch",
            "finish all of a sponsor's tasks to open its lucky bag, once per person",
            f"invite {c.friends_required} new friends to open the invite bag "
            f"({yuan(c.invite_min_fen)}-{yuan(c.invite_max_fen)} yuan, at most {c.invite_rewards_max})",
            "log in with a mainland mobile number; virtual-operator numbers are not accepted",
        ]}

    # --- login -------------------------------------------------------------------------------

    def login(self, mobile: object, channel: object, inviter_code: object) -> tuple[str, Session, dict]:
        """Log in (registering a new number); returns the new SID, its session and the data."""
        self.require_live()
        if not isinstance(mobile, str) or not MOBILE.match(mobile):
            raise Refusal(Code.BAD_PARAMS, "mobile must be an 11-digit mainland number starting with 1")
        if self.is_virtual(mobile):
            raise Refusal(Code.VIRTUAL_NUMBER, "risk control: virtual-operator numbers cannot take part")
        if mobile in self.campaign.blacklist:
            raise Refusal(Code.BLACKLISTED, "risk control: this account cannot take part")
        user = self.by_mobile.get(mobile)
        new = user is None
        if user is None:
            user = self._register(mobile, str(channel or "other"), inviter_code)
        sid, session = secrets.token_urlsafe(18), Session(user.uid, secrets.token_hex(16))
        self.sessions[sid] = session
        self.counts["logins"] += 1
        return sid, session, {"uid": user.uid, "invite_code": user.invite_code, "new_user": new,
                              "sign_key": session.sign_key}

    def _register(self, mobile: str, channel: str, inviter_code: object) -> User:
        inviter = self.by_invite_code.get(inviter_code) if isinstance(inviter_code, str) else None
        user = User(uid=len(self.users) + 1, mobile=mobile, channel=channel,
                    invite_code=secrets.token_hex(4), inviter=inviter.uid if inviter else None)
        self.users[user.uid] = user
        self.by_mobile[mobile] = user
        self.by_invite_code[user.invite_code] = user
        self.counts["new_users"] += 1
        if inviter is not None:
            inviter.friends += 1
            self.counts["invited_users"] += 1
        return user

    # --- tasks, follow, share, visit ---------------------------------------------------------

    def complete_task(self, uid: int, inst: object, task: object) -> dict:
        self.require_live()
        institution = self._institution(inst)
        if task not in institution.tasks:
            raise Refusal(Code.NOT_FOUND, f"{institution.id} has no task {task!r}")
        user = self.users[uid]
        if user.task_count >= self.campaign.task_completions_per_user:
            raise Refusal(Code.TASK_CAP, f"at most {self.campaign.task_completions_per_user} tasks per person")
        user.task_count += 1
        done = user.tasks.setdefault(institution.id, set())
        done.add(str(task))
        self.counts["tasks"] += 1
        return {"inst": institution.id, "task": task, "done": sorted(done),
                "bag_unlocked": done >= set(institution.tasks)}

    def follow(self, uid: int) -> dict:
        self.require_live()
        self.users[uid].followed = True
        self.counts["follows"] += 1
        return {"followed": True}

    def share(self, uid: int) -> dict:
        """A share link on one of the issuing domains: https://<domain>/l/<code>."""
        self.require_live()
        user = self.users[uid]
        if user.shares >= self.campaign.shares_per_user:
            raise Refusal(Code.SHARE_CAP, f"at most {self.campaign.shares_per_user} share links per person")
        domain = self.links.issue(self.clock.now())
        if domain is None:
            raise Refusal(Code.ERROR, "no link domain is left to share on")
        user.shares += 1
        code = secrets.token_urlsafe(6)
        self.link_owner[code] = uid
        self.counts["shares"] += 1
        return {"share_url": f"https://{domain}/l/{code}", "invite_code": user.invite_code}

    def visit(self, code: str, host: str | None) -> dict:
        """A share link opened: who invited (their invite code goes into the visitor's login)."""
        uid = self.link_owner.get(code)
        if uid is None:
            raise Refusal(Code.NOT_FOUND, f"no share link {code!r}")
        self.links.count_visit((host or "").split(":")[0])
        self.counts["visits"] += 1
        return {"inviter": self.users[uid].invite_code, "phase": self.phase()}

    # --- the bags ----------------------------------------------------------------------------

    async def open_bag(self, uid: int, inst: object) -> dict:
        """Open a sponsor's lucky bag: all its tasks done, once per person, from its pool."""
        self.require_live()
        institution = self._institution(inst)
        missing = sorted(set(institution.tasks) - self.users[uid].tasks.get(institution.id, set()))
        if missing:
            raise Refusal(Code.LOCKED, f"finish {', '.join(missing)} first to open {institution.id}'s bag")
        payout = await self.wallet.pay(uid, f"bag:{institution.id}", institution.id,
                                       lambda: self.rng.randint(institution.min_fen, institution.max_fen))
        self.counts["bags"] += 1
        return {"inst": institution.id, "amount": yuan(payout.amount_fen), "order_no": payout.order_no}

    async def open_invite_bag(self, uid: int) -> dict:
        """The invite bag: earned by every `friends_required` new friends, at most `invite_rewards_max`."""
        self.require_live()
        c, user = self.campaign, self.users[uid]
        earned = min(user.friends // c.friends_required, c.invite_rewards_max)
        taken = sum(1 for n in range(1, c.invite_rewards_max + 1) if (uid, f"invite:{n}") in self.wallet.claims)
        if taken >= earned:
            if taken >= c.invite_rewards_max:
                raise Refusal(Code.ALREADY_CLAIMED, "you have already opened the invite bag")
            need = c.friends_required * (taken + 1) - user.friends
            raise Refusal(Code.LOCKED, f"invite {need} more new friend(s) to open the invite bag")
        payout = await self.wallet.pay(uid, f"invite:{taken + 1}", "invite",
                                       lambda: self.rng.randint(c.invite_min_fen, c.invite_max_fen))
        self.counts["invite_bags"] += 1
        return {"amount": yuan(payout.amount_fen), "order_no": payout.order_no}

    def _institution(self, inst: object) -> Institution:
        institution = self.campaign.institution(inst) if isinstance(inst, str) else None
        if institution is None:
            raise Refusal(Code.NOT_FOUND, f"no sponsor {inst!r}")
        return institution
