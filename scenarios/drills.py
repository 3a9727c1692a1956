"""The `drills` section: incident drills as data, shaped like a Chaos Toolkit experiment.

A drill names the stretch of the campaign it plays (a traffic window), the launch gates that
must hold through it (the steady state), the incidents injected on its timeline (offsets into
the window) and the responses expected of the system, each with its deadline:

    ban_wave:
      title: A domain-ban wave right after launch
      window: launch_hour
      steady_state: [failover]
      incidents:
        - {kind: ban_domains, at: 10m, count: 3}
      expect:
        - {kind: failover, within: 5m}

Cross-references (window, gate, pool, action, domain) are checked against the rest of the
scenario by `Scenario`, so a typo is a one-line error naming the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Sequence, Union

from pydantic import Discriminator, Field, Tag, model_validator

from rehearse.scenarios.base import MAX_FEN, Section, Slug
from rehearse.scenarios.campaign import check_window_in_campaign
from rehearse.scenarios.limits import CHECK_KEYS
from rehearse.scenarios.safeguards import Domain
from rehearse.scenarios.target import ActionName
from rehearse.scenarios.errors import UsageError
from rehearse.scenarios.units import Seconds

if TYPE_CHECKING:
    from rehearse.scenarios.model import Scenario

class DrillWindow(Section):
    """A stretch of campaign time given inline (start is seconds from launch)."""

    start: Seconds
    duration: Seconds = Field(gt=0)


class BanDomains(Section):
    """The social platform bans domains the backend is issuing: the first `count` of them, or
    the ones listed."""

    kind: Literal["ban_domains"]
    at: Seconds = Field(ge=0, description="offset into the drill's window")
    count: Annotated[int | None, Field(ge=1)] = None
    domains: list[Domain] = Field(default_factory=list)

    @model_validator(mode="after")
    def _which(self) -> "BanDomains":
        if (self.count is None) == (not self.domains):
            raise ValueError("give either count (ban that many issuing domains) or domains (a list)")
        return self


class FraudWave(Section):
    """Script operators arrive `multiplier` times as often as the persona mix says, for a while."""

    kind: Literal["fraud_wave"]
    at: Seconds = Field(ge=0)
    multiplier: Annotated[float, Field(gt=1, le=1000)]
    duration: Seconds = Field(gt=0)


class DelayedTopup(Section):
    """A pool sized for less than the drill needs (`left_fen` at the window's start, at full
    scale) runs out; the operator's top-up of `amount_fen` comes `delay` after it ran out
    (null: never). `at` is when the incident is announced (the pool is cut to `left_fen`)."""

    kind: Literal["delayed_topup"]
    at: Seconds = Field(default=0, ge=0)
    pool: Slug
    left_fen: Annotated[int, Field(ge=0, le=MAX_FEN)]
    amount_fen: Annotated[int, Field(gt=0, le=MAX_FEN)]
    delay: Seconds | None = Field(ge=0, description="after the pool runs out; null: never")


class Slowdown(Section):
    """The backend serves `actions` `factor` times slower for `duration`."""

    kind: Literal["slowdown"]
    at: Seconds = Field(ge=0)
    actions: Annotated[list[ActionName], Field(min_length=1)]
    factor: Annotated[float, Field(gt=1, le=1000)]
    duration: Seconds = Field(gt=0)


def describe(incident: BanDomains | FraudWave | DelayedTopup | Slowdown) -> str:
    """One line saying what the incident is, for the events table and the timeline."""
    if incident.kind == "ban_domains":
        which = ", ".join(incident.domains) if incident.domains else f"{incident.count} issuing domains"
        return f"ban_domains: the platform bans {which}"
    if incident.kind == "fraud_wave":
        return (f"fraud_wave: script operators arrive x{incident.multiplier:g} for "
                f"{incident.duration / 60:g} min")
    if incident.kind == "slowdown":
        return (f"slowdown: {', '.join(incident.actions)} x{incident.factor:g} slower for "
                f"{incident.duration / 60:g} min")
    late = "never comes" if incident.delay is None else f"comes {incident.delay / 60:g} min after it runs out"
    return (f"delayed_topup: pool {incident.pool} holds {incident.left_fen:,} fen; its top-up of "
            f"{incident.amount_fen:,} fen {late}")


def _window_form(value: object) -> str:
    return "span" if isinstance(value, (dict, DrillWindow)) else "name"


WindowRef = Annotated[Union[Annotated[Slug, Tag("name")], Annotated[DrillWindow, Tag("span")]],
                      Discriminator(_window_form)]

Incident = Annotated[Union[BanDomains, FraudWave, DelayedTopup, Slowdown], Field(discriminator="kind")]
INCIDENT_KINDS = ("ban_domains", "fraud_wave", "delayed_topup", "slowdown")


class FailoverResponse(Section):
    """Every banned domain stops being issued within the deadline of its ban."""

    kind: Literal["failover"]
    within: Seconds = Field(gt=0)


class AlarmResponse(Section):
    """Once payouts run ahead of plan by the warning ratio during a fraud wave, the fund-loss
    alarm comes within the deadline."""

    kind: Literal["alarm"]
    within: Seconds = Field(gt=0)


class PayoutsResumeResponse(Section):
    """A pool that ran out is topped up (payouts resume) within the deadline."""

    kind: Literal["payouts_resume"]
    within: Seconds = Field(gt=0)


class RecoveryResponse(Section):
    """After a slowdown ends, the slowed actions' p95 is back under the SLO within the deadline."""

    kind: Literal["recovery"]
    within: Seconds = Field(gt=0)


Response = Annotated[Union[FailoverResponse, AlarmResponse, PayoutsResumeResponse, RecoveryResponse],
                     Field(discriminator="kind")]
RESPONSE_KINDS = ("failover", "alarm", "payouts_resume", "recovery")
# Which incident each expected response answers: a response with no such incident is an error.
ANSWERS = {"failover": "ban_domains", "alarm": "fraud_wave", "payouts_resume": "delayed_topup",
           "recovery": "slowdown"}


class Drill(Section):
    """An incident drill: steady state, incidents on a timeline, responses with deadlines."""

    title: Annotated[str, Field(min_length=1)]
    description: str = ""
    window: WindowRef = Field(description="a traffic window's name, or {start, duration}")
    steady_state: list[Literal[CHECK_KEYS]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="launch gates (or gate.check) that must hold in the window")
    incidents: Annotated[list[Incident], Field(min_length=1)]
    expect: Annotated[list[Response], Field(min_length=1)]

    @model_validator(mode="after")
    def _answers(self) -> "Drill":
        kinds = {i.kind for i in self.incidents}
        for n, response in enumerate(self.expect):
            if ANSWERS[response.kind] not in kinds:
                raise ValueError(f"expect.{n}: a {response.kind} response answers a "
                                 f"{ANSWERS[response.kind]} incident; add one to incidents")
        return self


Drills = dict[Slug, Drill]


def check_drills(drills: Drills, sections: dict) -> None:
    """Every name a drill uses exists in the scenario's other sections (already validated);
    a ValueError starting with the field's path (drills.NAME...) otherwise."""
    windows = sections["traffic"].windows
    links = sections.get("links")
    campaign = sections["campaign"]
    pools = campaign.pools()
    domains = links.primary_domains + links.backup_domains if links is not None else []
    for name, drill in drills.items():
        where = f"drills.{name}"
        if isinstance(drill.window, str) and drill.window not in windows:
            raise ValueError(f"{where}.window: {drill.window!r} is not in traffic.windows "
                             f"(known: {', '.join(sorted(windows)) or 'none'}); or give {{start, duration}}")
        start, length = window_of(drill, windows)
        for n, response in enumerate(drill.expect):
            if response.kind == "alarm" and sections["budget"].fund_loss is None:
                raise ValueError(f"{where}.expect.{n}: an alarm response needs the campaign's fund-loss alarm "
                                 "(budget.fund_loss is left out); remove it, or add budget.fund_loss")
        if not isinstance(drill.window, str):
            check_window_in_campaign(campaign.phases, start, length, f"{where}.window")
        for n, incident in enumerate(drill.incidents):
            at = f"{where}.incidents.{n}"
            if incident.at >= length:
                raise ValueError(f"{at}.at: {incident.at:g} s is past the window's end ({length:g} s)")
            if incident.kind == "delayed_topup" and incident.pool not in pools:
                raise ValueError(f"{at}.pool: {incident.pool!r} is not a pool; use one of {', '.join(pools)}")
            if incident.kind == "slowdown":
                _check_offered(campaign, links, incident.actions, f"{at}.actions")
            if incident.kind == "ban_domains":
                if links is None:
                    raise ValueError(f"{at}: a ban needs share links, and the campaign issues none (links: is "
                                     "left out); remove the ban, or add links:")
                if incident.count is not None and incident.count > len(domains):
                    raise ValueError(f"{at}.count: {incident.count} is more than the {len(domains)} domains "
                                     "links.primary_domains and links.backup_domains hold; ban at most that many")
                unknown = [d for d in incident.domains if d not in domains]
                if unknown:
                    raise ValueError(f"{at}.domains: {', '.join(unknown)} not in links.primary_domains "
                                     "or links.backup_domains")


def _check_offered(campaign, links, actions: Sequence[str], where: str) -> None:
    """A drill slows down only actions the campaign offers (no grand_draw without a grand round,
    no share without share links)."""
    for action in actions:
        why = campaign.lacks(action) or (None if links is not None or action not in ("share", "visit_link")
                                         else "the campaign issues no share links")
        if why is not None:
            raise ValueError(f"{where}: {action} is not offered ({why}); remove it from the list")


def window_of(drill: Drill, windows: dict) -> tuple[float, float]:
    """(start, duration) of the drill's window, in campaign seconds."""
    window = windows[drill.window] if isinstance(drill.window, str) else drill.window
    return float(window.start), float(window.duration)


def find_drill(scenario: "Scenario", name: str) -> Drill:
    """The scenario's drill called `name`, or a UsageError listing the known ones."""
    try:
        return scenario.drills[name]
    except KeyError:
        known = ", ".join(scenario.drills) or "none (add a drills: section)"
        raise UsageError(f"--drill {name}: the scenario has no such drill (known: {known})") from None
