"""The verdicts as JUnit XML, so CI shows one test case per check and fails the job on a fail."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rehearse.reports.rows import evidence_lines, number
from rehearse.reports.verdicts import Verdict

SUITE = "rehearse gates"


def render_junit(verdicts: list[Verdict]) -> str:
    """One <testsuite name="rehearse gates">, a <testcase classname=gate name=check> per verdict:
    <failure> for a fail, <skipped> for a skip, the evidence as the case's output."""
    suite = ET.Element("testsuite", {
        "name": SUITE,
        "tests": str(len(verdicts)),
        "failures": str(sum(v.status == "fail" for v in verdicts)),
        "errors": "0",
        "skipped": str(sum(v.status == "skip" for v in verdicts)),
    })
    for verdict in verdicts:
        case = ET.SubElement(suite, "testcase", {"classname": verdict.gate, "name": verdict.check})
        evidence = "\n".join(evidence_lines(verdict, limit=len(verdict.evidence)))
        if verdict.status == "fail":
            failure = ET.SubElement(case, "failure", {"message": _figure(verdict)})
            failure.text = evidence
        elif verdict.status == "skip":
            ET.SubElement(case, "skipped", {"message": evidence or "nothing to judge in this run"})
        elif evidence:
            ET.SubElement(case, "system-out").text = evidence
    xml = ET.tostring(suite, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{xml}\n'


def _figure(verdict: Verdict) -> str:
    """'3,100 ms against a limit of 800 ms'."""
    unit = f" {verdict.unit}" if verdict.unit else ""
    return f"{number(verdict.figure)}{unit} against a limit of {number(verdict.limit)}{unit}"
