"""A drill's timeline and verdict for people: Markdown (docs, CI summaries), an HTML section for
the report page, and the drill.json / drill.md a drill leaves in its run folder.

Everything here works from the drill's JSON form (`DrillResult.as_dict()`), so a report built
later from a run folder shows the same drill as the command printed.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from rehearse.reports.markdown import markdown_table
from rehearse.reports.rows import number

DRILL_JSON = "drill.json"
DRILL_MD = "drill.md"
STATUS_WORD = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "unverified": "not verified",
               "not_applicable": "not applicable", "off": "off"}


def clock(t: float | None) -> str:
    """Campaign time as hours:minutes:seconds after launch, e.g. '+0:20:00' (day 2: '+1d 2:00:00')."""
    if t is None or t != t or t in (float("inf"), float("-inf")):
        return "-"
    sign = "-" if t < 0 else "+"
    days, rest = divmod(int(round(abs(t))), 86400)
    hours, rest = divmod(rest, 3600)
    text = f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{sign}{days}d {text}" if days else f"{sign}{text}"


def took(check: dict) -> str:
    figure = check["figure"]
    if check["status"] == "unverified":
        return "-"
    if check["unit"] == "s":
        return "never" if figure is None else f"{number(figure)} s"
    return "-" if figure is None else f"{number(figure)} {check['unit']}"


def evidence(check: dict, limit: int = 3) -> str:
    parts = [f"{clock(e['t'])} {e['detail']}" if e["t"] is not None else e["detail"]
             for e in check["evidence"][:limit]]
    return "; ".join(parts)


def check_rows(checks: list[dict]) -> list[list[str]]:
    """One row per check: check, status, measured, limit, evidence."""
    return [[c["check"], STATUS_WORD.get(c["status"], c["status"]), took(c),
             "-" if c["limit"] is None else f"{number(c['limit'])} {c['unit']}", evidence(c)] for c in checks]


LEGEND = ("*incident*: what the drill did to the campaign; *noticed*: the moment it was seen (a ban, an "
          "alarm, a pool running out); *system*: what the campaign did about it (failover, top-up, "
          "resume); *deadline met* / *missed*: each expected response against its deadline.")
CHECK_HEADER = ["check", "status", "measured", "deadline / limit", "evidence"]
TIMELINE_HEADER = ["campaign time", "what", "detail"]


def timeline_rows(drill: dict) -> list[list[str]]:
    return [[clock(m["t"]), m["phase"], m["detail"]] for m in drill["timeline"]]


def render_drill_markdown(drill: dict, intro: str = "") -> str:
    """The drill as a Markdown page: verdict, what it rehearses, timeline, responses, steady state."""
    window = drill["window"]
    lines = [f"## Drill {drill['drill']}: {STATUS_WORD[drill['status']]}", "",
             f"**{drill['title']}** ({drill['engine']}; window {clock(window['start'])} to "
             f"{clock(window['end'])} after launch)", ""]
    if intro:
        lines += [intro, ""]
    if drill.get("description"):
        lines += [drill["description"], ""]
    lines += ["### Timeline", "", LEGEND, "", *markdown_table(TIMELINE_HEADER, timeline_rows(drill)), "",
              "### Expected responses", "", *markdown_table(CHECK_HEADER, check_rows(drill["responses"])), ""]
    if drill["steady_state"]:
        lines += ["### Steady state (launch gates in the window)", "",
                  *markdown_table(CHECK_HEADER, check_rows(drill["steady_state"])), ""]
    return "\n".join(lines)


def render_drill_html(drill: dict) -> str:
    """The drill as a section of the report page (every text escaped)."""
    def table(header: list[str], rows: list[list[str]], status_col: int | None) -> str:
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        body = []
        for row in rows:
            css = row[status_col].lower() if status_col is not None else ""
            cells = "".join(f'<td class="{"status" if i == status_col else ""}">{escape(c)}</td>'
                            for i, c in enumerate(row))
            body.append(f'<tr class="{escape(css)}">{cells}</tr>')
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    parts = [f"<h2>Drill {escape(drill['drill'])}: {STATUS_WORD[drill['status']]}</h2>",
             f"<p><strong>{escape(drill['title'])}</strong> ({escape(drill['engine'])})</p>"]
    if drill.get("description"):
        parts.append(f"<p>{escape(drill['description'])}</p>")
    parts += ["<h3>Timeline</h3>", table(TIMELINE_HEADER, timeline_rows(drill), None),
              "<h3>Expected responses</h3>", table(CHECK_HEADER, check_rows(drill["responses"]), 1)]
    if drill["steady_state"]:
        parts += ["<h3>Steady state</h3>", table(CHECK_HEADER, check_rows(drill["steady_state"]), 1)]
    return "\n".join(parts)


def write_drill(folder: Path, drill: dict) -> None:
    """drill.json and drill.md in a run folder."""
    (folder / DRILL_JSON).write_text(json.dumps(drill, indent=2) + "\n", encoding="utf-8")
    (folder / DRILL_MD).write_text(render_drill_markdown(drill), encoding="utf-8")


def read_drill(folder: Path) -> dict | None:
    """The drill a run folder played (its drill.json), if any."""
    path = Path(folder) / DRILL_JSON
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None

