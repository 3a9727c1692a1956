"""A walkthrough told in plain language: when, who did what, what the backend answered, and
whether that is what the campaign's rules say. Strings only; the CLI and the Markdown writer
lay them out. No phone number is told in full (`personas.identity.PhoneMask`): not the
participant's, not one an answer or a share link carries.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from rehearse.personas.identity import PhoneMask, masked_phone
from rehearse.personas.steps import replayed_fen
from rehearse.scenarios import Scenario
from rehearse.walkthrough.engine import Copy, Participant, StepReport

OK_MARK, BAD_MARK = "✓", "✗"


def clock(scenario: Scenario, t: float) -> str:
    """Campaign time as the campaign's local date and time, e.g. 12-20 10:03:12."""
    moment = scenario.campaign.phases.launch + timedelta(seconds=t)
    return moment.strftime("%m-%d %H:%M:%S")


def span(seconds: float) -> str:
    """A duration for people: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours, minutes = divmod(round(minutes), 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def yuan(fen: int) -> str:
    return f"{fen / 100:,.2f} yuan"


def introduce(who: Participant, scenario: Scenario) -> str:
    """Who this participant is, in one line."""
    user = who.user
    channel = next((c.name for c in scenario.traffic.channels if c.channel_id == user.channel), user.channel)
    return (f"{user.name}, phone {masked_phone(user.phone)}, comes in through {channel} at "
            f"{clock(scenario, who.start_t)}")


def doing(report: StepReport, scenario: Scenario) -> str:
    """What the participant did, e.g. 'opens Anhe Fund's red envelope (taps twice at once)'."""
    act, params = report.act, report.act.params
    institution = scenario.campaign.institution(str(params.get("institution", "")))
    where = institution.name if institution is not None else str(params.get("institution", ""))
    if act.action == "open_page":
        text = "opens the campaign page"
    elif act.action == "view_rules":
        text = "reads the rules"
    elif act.action == "login":
        code = params.get("invite_code")
        text = f"logs in with {masked_phone(report.who.user.phone)}" + (f" and the invite code {code}" if code else "")
    elif act.action == "complete_task":
        task = next((t.name for t in institution.tasks if t.id == params.get("task")), params.get("task")) \
            if institution is not None else params.get("task")
        text = f"does {where}'s task \"{task}\""
    elif act.action == "open_envelope":
        text = f"opens {where}'s red envelope"
    elif act.action == "grand_draw":
        text = "draws in the grand round"
    elif act.action == "open_invite_envelope":
        text = "asks for the invite envelope"
    elif act.action == "share":
        text = "shares the campaign link"
    elif act.action == "visit_link":
        text = f"opens the share link {params.get('url', '')}".rstrip()
    elif act.action == "follow":
        follow = scenario.campaign.follow
        text = f"follows {follow.account}" if follow is not None else "follows the service account"
    else:
        text = act.action.replace("_", " ")
    sent = len(report.copies)
    if sent == 2:
        text += " (taps twice at once)"
    elif sent > 2:
        text += f" ({sent} requests at once)"
    return text


def _one(copy: Copy) -> str:
    if copy.ok:
        if copy.replayed:
            return f"answered again (marked a replay of {yuan(replayed_fen(copy.error) or 0)})"
        return f"paid {yuan(copy.payout_fen)}" if copy.payout_fen else "done"
    if copy.status == 0:
        return "no answer" + (f" ({copy.error})" if copy.error else "")
    detail = f"{copy.status} {copy.error}" if copy.error and not copy.error.startswith("HTTP") else str(copy.status)
    return f"{'refused' if copy.refused else 'failed'} ({detail})"


def answer(report: StepReport) -> str:
    """What the backend answered, e.g. 'paid 1.88 yuan' or '1 paid 1.88 yuan, 1 refused (409 already_claimed)'."""
    parts = [_one(c) for c in report.copies]
    if len(parts) == 1:
        return parts[0]
    counted: dict[str, int] = {}
    for part in parts:
        counted[part] = counted.get(part, 0) + 1
    # most first, then by text: copies answer in any order, the line reads the same each run
    return ", ".join(f"{n}× {part}" for part, n in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0])))


def verdict(report: StepReport) -> str:
    """Whether the answer is what the rules say, and which rule."""
    if report.mismatch is not None:
        m = report.mismatch
        return f"{BAD_MARK} MISMATCH [{m.rule.id}]: {m.what}. The rule: {m.rule.text}"
    if report.slowed:
        return f"{OK_MARK} slowed down (rate limit), which the rules allow"
    if report.rule is not None and report.done < len(report.copies):
        prefix = "" if report.done == 0 else "the rest refused: "
        return f"{OK_MARK} as the rules say: {prefix}{report.rule.text}"
    return f"{OK_MARK} as the rules say"


@dataclass
class Line:
    """One narrated line (steps repeated back to back are folded into one, `times`)."""

    report: StepReport
    time: str
    who: str
    did: str
    answered: str
    judged: str
    times: int = 1


def line(report: StepReport, scenario: Scenario) -> Line:
    """The step told in one line; the participant's number (and any that looks like one) masked
    wherever it shows: a share link, a refusal's reason, what a mismatch says."""
    phones = PhoneMask(who.user.phone for who in (report.who, report.who.inviter) if who is not None)
    return Line(report, clock(scenario, report.t), report.who.label, phones(doing(report, scenario)),
                phones(answer(report)), phones(verdict(report)))


def fold(lines: list[Line]) -> list[Line]:
    """Merge steps repeated back to back (a script retrying) into one line with a count."""
    folded: list[Line] = []
    for item in lines:
        last = folded[-1] if folded else None
        if last is not None and (last.who, last.did, last.answered, last.judged) == \
                (item.who, item.did, item.answered, item.judged):
            last.times += 1
        else:
            folded.append(replace(item))
    return folded
