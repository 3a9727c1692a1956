"""The `campaign` section: phases, institutions and their tasks, envelopes, grand round, invites.

Only the phases and the institutions are required: a campaign shaped like its backend leaves out
what that backend does not offer (the preheat, an institution's tasks, the grand round, the
invite reward, the account to follow), and the actions those features need go with them
(`Campaign.actions`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, field_validator, model_validator

from rehearse.scenarios.base import Amount, Fen, Section, Share, Slug
from rehearse.scenarios.target import ACTIONS


MAX_CAMPAIGN_DAYS = 400


class Phases(Section):
    """Preheat (look, don't take part) from preheat_start, live from launch until end; without
    preheat_start the campaign has no preheat."""

    preheat_start: AwareDatetime | None = Field(default=None, description="leave out for no preheat")
    launch: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _in_order(self) -> "Phases":
        if self.preheat_start is not None and not self.preheat_start <= self.launch:
            raise ValueError(
                f"preheat_start ({self.preheat_start.isoformat()}) must not be after "
                f"launch ({self.launch.isoformat()})"
            )
        if not self.launch < self.end:
            raise ValueError(
                f"launch ({self.launch.isoformat()}) must be before end ({self.end.isoformat()})"
            )
        days = (self.end - (self.preheat_start or self.launch)).total_seconds() / 86400
        if days > MAX_CAMPAIGN_DAYS:
            raise ValueError(f"preheat_start (or launch) to end spans {days:,.0f} days; a campaign may span "
                             f"{MAX_CAMPAIGN_DAYS} days at most (check the years)")
        return self

    @property
    def has_preheat(self) -> bool:
        return self.preheat_start is not None

    @property
    def preheat_s(self) -> float:
        """Length of the preheat in seconds (0 without one)."""
        if self.preheat_start is None:
            return 0.0
        return (self.launch - self.preheat_start).total_seconds()

    @property
    def live_s(self) -> float:
        """Length of the live campaign in seconds."""
        return (self.end - self.launch).total_seconds()

    def campaign_time(self, moment: datetime) -> float:
        """Seconds since launch (negative during preheat) of a wall-clock moment."""
        return (moment - self.launch).total_seconds()

    def phase_at(self, t: float) -> str:
        """The phase name at campaign time t: before, preheat, live or ended."""
        if t < -self.preheat_s:
            return "before"
        if t < 0:
            return "preheat"
        if t < self.live_s:
            return "live"
        return "ended"


def check_window_in_campaign(phases: Phases, start: float, duration: float, where: str) -> None:
    """A stretch of campaign time (a traffic or drill window) lies inside the campaign: nothing is
    played before its preheat (or launch) or after its end. A ValueError naming `where` otherwise."""
    first, last = -phases.preheat_s, phases.live_s
    if start < first or start + duration > last:
        begins = "the preheat" if phases.has_preheat else "launch"
        raise ValueError(f"{where}.start: the window {_hours(start)} to {_hours(start + duration)} from launch "
                         f"is not inside the campaign ({_hours(first)} ({begins}) to {_hours(last)} (end)); "
                         "move it, shorten it, or change campaign.phases")


def _hours(seconds: float) -> str:
    """A campaign time from launch in words: '+10 h', '-3 d', '+30.04 d', '+0 s'."""
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if abs(seconds) >= size:
            return f"{seconds / size:+.4g} {unit}"
    return f"{seconds:+.4g} s"


class Task(Section):
    id: Slug
    name: str


class Institution(Section):
    """A partner whose tasks, once all done, unlock its small red envelope (no tasks: it is open)."""

    id: Slug
    name: str
    tasks: list[Task] = Field(default_factory=list, description="empty: the envelope is open from the start")
    envelope: Amount

    @field_validator("tasks")
    @classmethod
    def _unique_tasks(cls, tasks: list[Task]) -> list[Task]:
        ids = [t.id for t in tasks]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"task ids must be unique, repeated: {', '.join(dupes)}")
        return tasks


class Prize(Section):
    name: str
    amount_fen: Fen
    probability: Share
    count: Annotated[int | None, Field(ge=0)] = Field(
        default=None, description="how many can be won in all; null for no limit"
    )


class GrandRound(Section):
    """The final draw, open to users who have opened every institution's envelope."""

    prizes: Annotated[list[Prize], Field(min_length=1)]
    draws_per_user: Annotated[int, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _odds(self) -> "GrandRound":
        total = sum(p.probability for p in self.prizes)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"prize probabilities must add up to 1, they add up to {total:g}")
        if self.prizes[-1].count is not None:
            raise ValueError(
                "the last prize must have count: null, so that a draw whose prize has run out "
                f"falls back to it (last prize is {self.prizes[-1].name!r})"
            )
        return self

    @property
    def top_prize(self) -> Prize:
        return max(self.prizes, key=lambda p: p.amount_fen)


class Invite(Section):
    """'Invite N friends, get a red envelope': a friend counts once, on their first login."""

    friends_required: Annotated[int, Field(ge=1)] = 3
    reward: Amount
    max_rewards_per_user: Annotated[int, Field(ge=0)] = 1


class Caps(Section):
    """Per-user limits the backend enforces (rules, not rate limits)."""

    shares_per_user: Annotated[int, Field(ge=0)] = 20
    task_completions_per_user: Annotated[int, Field(ge=0)] = 100


class Follow(Section):
    """The service account users are guided to follow, so that drop-outs can be woken later."""

    account: str
    required_for_grand_round: bool = False


OPTIONAL_ACTIONS = {"complete_task": "no institution has tasks", "grand_draw": "the campaign has no grand round",
                    "open_invite_envelope": "the campaign has no invite reward",
                    "follow": "the campaign has no account to follow"}
"""The actions a campaign may do without, and what their absence means."""


class Campaign(Section):
    title: str
    phases: Phases
    institutions: Annotated[list[Institution], Field(min_length=1)]
    grand_round: GrandRound | None = Field(default=None, description="leave out for no grand round")
    invite: Invite | None = Field(default=None, description="leave out for no invite reward")
    caps: Caps = Caps()
    follow: Follow | None = Field(default=None, description="leave out for no account to follow")

    @field_validator("institutions")
    @classmethod
    def _unique_institutions(cls, institutions: list[Institution]) -> list[Institution]:
        ids = [i.id for i in institutions]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"institution ids must be unique, repeated: {', '.join(dupes)}")
        return institutions

    def institution(self, institution_id: str) -> Institution | None:
        return next((i for i in self.institutions if i.id == institution_id), None)

    @property
    def has_tasks(self) -> bool:
        """Whether any institution's envelope is locked behind tasks."""
        return any(i.tasks for i in self.institutions)

    @property
    def follow_required(self) -> bool:
        """Whether the grand draw needs the participant to follow the service account first."""
        return self.grand_round is not None and self.follow is not None and self.follow.required_for_grand_round

    def lacks(self, action: str) -> str | None:
        """Why the campaign does not offer this action (a feature left out), or None if it does."""
        offered = {"complete_task": self.has_tasks, "grand_draw": self.grand_round is not None,
                   "open_invite_envelope": self.invite is not None, "follow": self.follow is not None}
        return None if offered.get(action, True) else OPTIONAL_ACTIONS[action]

    def actions(self) -> tuple[str, ...]:
        """The actions this campaign offers, in the target contract's order."""
        return tuple(a for a in ACTIONS if self.lacks(a) is None)

    def pools(self) -> list[str]:
        """The budget pools, in campaign order: each institution, then "grand" and "invite" when
        the campaign has a grand round and an invite reward."""
        extras = [name for name, there in (("grand", self.grand_round), ("invite", self.invite)) if there is not None]
        return [i.id for i in self.institutions] + extras
