"""The Lucky Bag campaign as this backend knows it: its own settings, not rehearse's scenario.

A backend built in a hurry keeps its campaign in code, as here; `scenario.yaml` beside this
file describes the same campaign to rehearse (a test checks that the two agree).
Money is integer fen inside the backend; only the participant API speaks yuan strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DAY_S = 86_400.0


@dataclass(frozen=True)
class Institution:
    """A sponsor: do all its tasks to open its lucky bag, worth min_fen..max_fen."""

    id: str
    name: str
    tasks: tuple[str, ...]
    min_fen: int = 8
    max_fen: int = 188


@dataclass(frozen=True)
class RateLimit:
    per_second: float
    burst: int


@dataclass(frozen=True)
class Campaign:
    """Everything the rules of the campaign depend on."""

    preheat_s: float = 2 * DAY_S  # the page and rules are public this long before launch
    live_s: float = 7 * DAY_S  # taking part is open from launch (t = 0) to t = live_s
    institutions: tuple[Institution, ...] = (
        Institution("jinniu", "Jinniu Securities", ("watch_live", "follow_account")),
        Institution("yinhe", "Yinhe Fund", ("watch_live", "follow_account")),
        Institution("fuyuan", "Fuyuan Wealth", ("watch_live", "follow_account")),
        Institution("tianxing", "Tianxing Asset Management", ("watch_live", "follow_account", "quiz")),
    )
    budgets_fen: dict[str, int] = field(default_factory=lambda: {
        "jinniu": 10_400_000, "yinhe": 9_100_000, "fuyuan": 7_900_000, "tianxing": 6_900_000,
        "invite": 1_600_000,
    })
    friends_required: int = 3  # new friends logged in with one's invite code, for the invite bag
    invite_min_fen: int = 100
    invite_max_fen: int = 500
    invite_rewards_max: int = 1
    shares_per_user: int = 20
    task_completions_per_user: int = 60
    primary_domains: tuple[str, ...] = (
        "fu1.luckybag-spring.example", "fu2.luckybag-spring.example", "fu3.luckybag-spring.example")
    backup_domains: tuple[str, ...] = tuple(f"bk{n}.lucky-go.example" for n in range(1, 6))
    virtual_segments: tuple[str, ...] = ("162", "165", "167", "170", "171")
    blacklist: frozenset[str] = frozenset({"13800000011", "13800000012", "15900000013"})
    per_user: RateLimit = RateLimit(per_second=5, burst=10)
    per_ip: RateLimit = RateLimit(per_second=50, burst=100)
    channels: tuple[str, ...] = ("app_home", "live_room", "wechat_group", "sms")

    def institution(self, institution_id: str) -> Institution | None:
        return next((i for i in self.institutions if i.id == institution_id), None)

    def phase(self, t: float) -> str:
        """"before", "preheat", "live" or "ended" at campaign second t (0 is the launch)."""
        if t < -self.preheat_s:
            return "before"
        if t < 0:
            return "preheat"
        return "live" if t < self.live_s else "ended"
