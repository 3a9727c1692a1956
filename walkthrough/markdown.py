"""A walkthrough as a Markdown document a product manager can read without the code (and may
forward: no phone number in it is whole)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rehearse.personas.identity import PhoneMask
from rehearse.reports.markdown import markdown_row
from rehearse.scenarios import Scenario
from rehearse.scenarios.rules import Rule
from rehearse.walkthrough.engine import StepReport
from rehearse.walkthrough.narrate import BAD_MARK, OK_MARK, Line, clock, fold, introduce, line, yuan


@dataclass
class Played:
    """One group of the walkthrough and what happened to it."""

    title: str
    reports: list[StepReport] = field(default_factory=list)

    @property
    def mismatches(self) -> list[StepReport]:
        return [r for r in self.reports if r.mismatch is not None]

    @property
    def paid_fen(self) -> int:
        return sum(r.paid_fen for r in self.reports)


def summary_rows(played: list[Played]) -> list[tuple[str, int, int, int, str]]:
    """(participant, steps, as the rules say, mismatches, paid) per group."""
    return [(p.title, len(p.reports), len(p.reports) - len(p.mismatches), len(p.mismatches), yuan(p.paid_fen))
            for p in played]


def mismatches_by_rule(played: list[Played]) -> dict[Rule, list[StepReport]]:
    """Mismatched steps, by the rule they break."""
    by_rule: dict[Rule, list[StepReport]] = {}
    for report in (r for p in played for r in p.mismatches):
        m = report.mismatch
        assert m is not None
        by_rule.setdefault(m.rule, []).append(report)
    return by_rule


def _row(item: Line) -> str:
    times = f" (×{item.times})" if item.times > 1 else ""
    return markdown_row([item.time, item.who, item.did + times, item.answered, item.judged])


def render(scenario: Scenario, played: list[Played], header: list[str]) -> str:
    """The whole walkthrough: header lines, one section per group, the summary."""
    total = sum(len(p.reports) for p in played)
    wrong = sum(len(p.mismatches) for p in played)
    out = [f"# Walkthrough: {scenario.campaign.title}", ""]
    out += [*header, ""]
    out += [f"**{total} steps, {wrong} mismatch{'es' if wrong != 1 else ''}.** "
            f"{OK_MARK}: the answer is what the campaign's rules say. {BAD_MARK}: it is not, and the "
            "rule it breaks is named. Times are campaign time, in the campaign's own time zone; "
            "waits are not slept, the campaign clock jumps.", ""]
    for p in played:
        out += [f"## {p.title}", ""]
        if p.reports:
            first = p.reports[0].who
            out += [introduce(first, scenario) + ".", ""]
        out += ["| Time | Who | Does | Backend answers | Rules |", "|---|---|---|---|---|"]
        out += [_row(item) for item in fold([line(r, scenario) for r in p.reports])]
        out.append("")
    out += ["## Summary", "", "| Participant | Steps | As the rules say | Mismatches | Paid |",
            "|---|---:|---:|---:|---:|"]
    out += [markdown_row([str(x) for x in row]) for row in summary_rows(played)]
    by_rule = mismatches_by_rule(played)
    if by_rule:
        out += ["", "### Mismatches by rule", ""]
        for rule, reports in by_rule.items():
            where = ", ".join(f"{r.who.label} at {clock(scenario, r.t)}" for r in reports[:5])
            more = f" and {len(reports) - 5} more" if len(reports) > 5 else ""
            out.append(f"- **{rule.id}** ({rule.text}): {len(reports)} step(s): {where}{more}.")
    return _phone_mask(scenario, played)("\n".join(out) + "\n")


def _phone_mask(scenario: Scenario, played: list[Played]) -> PhoneMask:
    """The walkthrough's phone numbers (every participant's, the scenario's blacklist), masked by
    value and by shape in whatever the document says."""
    return PhoneMask([*scenario.antifraud.blacklist, *(r.who.user.phone for p in played for r in p.reports)])


def write(path: Path, scenario: Scenario, played: list[Played], header: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(scenario, played, header), encoding="utf-8")
    return path
