"""The verdicts as JUnit XML, so CI shows one test case per check and fails the job on a fail.

The rehearsal's verdict leads the suite as its properties (verdict PASS, FAIL or INCONCLUSIVE,
and what would make it conclusive). A required check not verified is an <error> (the check
could not be carried out), never a <failure>: an inconclusive rehearsal is not a failed one."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rehearse.reports.rows import evidence_lines, number
from rehearse.judging.verdicts import Tally, Verdict

SUITE = "rehearse gates"


def render_junit(verdicts: list[Verdict], judged: Tally | None = None) -> str:
    """One <testsuite name="rehearse gates">, a <testcase classname=gate name=check> per verdict:
    <failure> for a fail, <error> for a required check not verified, <skipped> for another check
    not verified or not applicable, the evidence as the case's output."""
    required = {id(v) for v in (judged.required_unverified if judged else ())}
    missing = [v for v in (judged.required_unverified if judged else ()) if not any(v is w for w in verdicts)]
    cases = list(verdicts) + missing
    suite = ET.Element("testsuite", {
        "name": SUITE,
        "tests": str(len(cases)),
        "failures": str(sum(v.failed for v in cases)),
        "errors": str(sum(not v.failed and id(v) in required for v in cases)),
        "skipped": str(sum(v.status in ("unverified", "not_applicable", "off") and id(v) not in required
                           for v in cases)),
    })
    if judged is not None:
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", {"name": "verdict", "value": judged.word})
        ET.SubElement(properties, "property", {"name": "headline", "value": judged.headline})
        for n, line in enumerate(judged.to_conclude if judged.outcome == "inconclusive" else (), 1):
            ET.SubElement(properties, "property", {"name": f"to_conclude.{n}", "value": line})
        for n, line in enumerate(judged.predictions, 1):
            ET.SubElement(properties, "property", {"name": f"prediction.{n}", "value": line})
    for verdict in cases:
        name = f"{verdict.run}: {verdict.check}" if verdict.run else verdict.check
        case = ET.SubElement(suite, "testcase", {"classname": verdict.gate, "name": name})
        evidence = "\n".join(evidence_lines(verdict, limit=len(verdict.evidence)))
        if verdict.failed:
            failure = ET.SubElement(case, "failure", {"message": _figure(verdict)})
            failure.text = evidence
        elif id(verdict) in required:
            error = ET.SubElement(case, "error", {"type": "inconclusive",
                                                  "message": "a required check was not verified"
                                                  + (f": {verdict.to_verify}" if verdict.to_verify else "")})
            error.text = evidence
        elif verdict.status == "unverified":
            ET.SubElement(case, "skipped", {"message": "not verified: " + (evidence or "nothing to judge in this run")})
        elif verdict.status == "not_applicable":
            ET.SubElement(case, "skipped", {"message": "not applicable: " + evidence})
        elif verdict.status == "off":
            ET.SubElement(case, "skipped", {"message": "off: " + evidence})
        elif verdict.status == "fail":  # advisory: shown, never failing the job
            ET.SubElement(case, "system-out").text = f"FAIL (advisory, not failing): {_figure(verdict)}\n{evidence}"
        elif evidence:
            ET.SubElement(case, "system-out").text = evidence
    xml = ET.tostring(suite, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{xml}\n'


def _figure(verdict: Verdict) -> str:
    """'3,100 ms against a limit of 800 ms'."""
    unit = f" {verdict.unit}" if verdict.unit else ""
    return f"{number(verdict.figure)}{unit} against a limit of {number(verdict.limit)}{unit}"
