"""The verdicts as JUnit XML, so CI shows one test case per check and fails the job on a fail."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rehearse.reports.rows import evidence_lines, number
from rehearse.judging.verdicts import Tally, Verdict

SUITE = "rehearse gates"


def render_junit(verdicts: list[Verdict], judged: Tally | None = None) -> str:
    """One <testsuite name="rehearse gates">, a <testcase classname=gate name=check> per verdict:
    <failure> for a fail and for a required check not verified, <skipped> for another check not
    verified or not applicable, the evidence as the case's output."""
    required = {id(v) for v in (judged.required_unverified if judged else ())}
    missing = [v for v in (judged.required_unverified if judged else ()) if not any(v is w for w in verdicts)]
    cases = list(verdicts) + missing
    suite = ET.Element("testsuite", {
        "name": SUITE,
        "tests": str(len(cases)),
        "failures": str(sum(v.failed or id(v) in required for v in cases)),
        "errors": "0",
        "skipped": str(sum(v.status in ("unverified", "not_applicable", "off") and id(v) not in required
                           for v in cases)),
    })
    for verdict in cases:
        name = f"{verdict.run}: {verdict.check}" if verdict.run else verdict.check
        case = ET.SubElement(suite, "testcase", {"classname": verdict.gate, "name": name})
        evidence = "\n".join(evidence_lines(verdict, limit=len(verdict.evidence)))
        if verdict.failed:
            failure = ET.SubElement(case, "failure", {"message": _figure(verdict)})
            failure.text = evidence
        elif id(verdict) in required:
            failure = ET.SubElement(case, "failure", {"message": "a required check was not verified"})
            failure.text = evidence
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
