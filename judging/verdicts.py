"""What a gate says: pass, fail or not verified, the figure against the limit, and the evidence;
and what a rehearsal's verdicts add up to: PASS, FAIL or INCONCLUSIVE.

A check with nothing to judge (no ban happened, no ledger, an empty table) is **not verified**,
never a pass. The scenario names the checks a launch needs (`gates.required`); a required check
not verified by a run against the target, or a run that did not finish, makes the rehearsal
INCONCLUSIVE when no check failed: neither a pass nor a failure, with what would make it
conclusive (`Tally.to_conclude`). Any failed check makes it FAIL. A check of a
feature the campaign leaves out (no preheat, no tasks) is **not applicable**: neither judged nor
required, and never a failure. The scenario may also make any check advisory (judged and shown,
never failing: `gates.advisory`) or turn it off (`gates.off`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Literal, Sequence

from rehearse.scenarios.limits import CHECKS  # a gate name in gates.required stands for each of its checks

Status = Literal["pass", "fail", "unverified", "not_applicable", "off"]
Outcome = Literal["pass", "fail", "inconclusive"]  # a rehearsal's verdict
OUTCOME_WORD = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}
# `rehearse check`, `report` and `ci` exit with these (2 is bad input; 4 a run the harness could not finish)
EXIT_CODE = {"pass": 0, "fail": 1, "inconclusive": 3}
STATUS_WORD = {"pass": "pass", "fail": "FAIL", "unverified": "not verified", "not_applicable": "not applicable",
               "off": "off"}


@dataclass(frozen=True)
class Evidence:
    """A time (campaign seconds, or None) and what was seen then."""

    t: float | None
    detail: str


@dataclass(frozen=True)
class Verdict:
    """One check of one gate, e.g. gate "peak", check "p95 open_envelope", key "peak.p95".

    `unverified` means the run holds nothing to judge this check on, or nothing trustworthy
    (e.g. no bans happened, so no failover time); the evidence says why."""

    gate: str
    check: str
    status: Status
    figure: float | None
    limit: float | None
    unit: str
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    slug: str = ""  # the check's short name within its gate (`gates.required`, drills' steady state)
    run: str = ""  # the label of the run it judged ("simulated", "live", a folder)
    engine: str = ""  # the engine of that run ("simulator", "swarm", ...)
    out_of_time: bool = False  # not verified because the run ended too soon after the event (a late ban)
    advisory: bool = False  # the scenario asks for it shown, never failing (`gates.advisory`)
    to_verify: str = ""  # not verified: what would verify it ("a run with more load processes: ...")

    @property
    def key(self) -> str:
        """`gate.slug`, e.g. "payout.paid_once": how the scenario names this check."""
        return f"{self.gate}.{self.slug}"

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def failed(self) -> bool:
        """A fail that fails the rehearsal (an advisory check's never does)."""
        return self.status == "fail" and not self.advisory

    @property
    def word(self) -> str:
        return STATUS_WORD[self.status] + (" (advisory)" if self.advisory and self.status == "fail" else "")

    def as_dict(self) -> dict:
        return {"run": self.run, "gate": self.gate, "check": self.check, "key": self.key, "status": self.status,
                "advisory": self.advisory,
                "figure": self.figure, "limit": self.limit, "unit": self.unit,
                "evidence": [{"t": e.t, "detail": e.detail} for e in self.evidence]}


def slug_of(check: str) -> str:
    """A check's default slug: its name in snake case ("error rate" -> "error_rate")."""
    return check.replace(" ", "_").replace("'", "")


def judged(gate: str, check: str, figure: float | None, limit: float | None, unit: str,
           ok: bool | None, evidence: Iterable[Evidence] = (), slug: str | None = None,
           to_verify: str = "") -> Verdict:
    """A verdict: ok None means there was nothing (trustworthy) to judge: not verified, and
    `to_verify` may say what would verify it."""
    status: Status = "unverified" if ok is None else ("pass" if ok else "fail")
    return Verdict(gate=gate, check=check, status=status, figure=figure, limit=limit, unit=unit,
                   evidence=tuple(evidence), slug=slug or slug_of(check), to_verify=to_verify if ok is None else "")


def unverified(gate: str, check: str, why: str, slug: str | None = None, limit: float | None = None,
               unit: str = "", to_verify: str = "") -> Verdict:
    """A check with nothing to judge, why, and what would verify it (if known)."""
    return judged(gate, check, None, limit, unit, None, [Evidence(None, why)], slug, to_verify)


def not_applicable(gate: str, check: str, why: str, slug: str | None = None) -> Verdict:
    """A check of a feature the campaign leaves out, and which feature."""
    return Verdict(gate=gate, check=check, status="not_applicable", figure=None, limit=None, unit="",
                   evidence=(Evidence(None, why),), slug=slug or slug_of(check))


def turned_off(gate: str, check: str, slug: str | None = None) -> Verdict:
    """A check the scenario turned off (`gates.off`): not judged."""
    return Verdict(gate=gate, check=check, status="off", figure=None, limit=None, unit="",
                   evidence=(Evidence(None, "turned off in the scenario (gates.off)"),), slug=slug or slug_of(check))


def requires(key: str, required: Sequence[str]) -> bool:
    """Whether the scenario's `gates.required` (gate names or `gate.slug` keys) names this check."""
    return key in required or key.split(".")[0] in required


@dataclass(frozen=True)
class Tally:
    """What a set of verdicts adds up to, and the exit code it gives."""

    passed: int
    failed: int
    unverified: int
    required_unverified: tuple[Verdict, ...]
    interrupted: tuple[str, ...] = ()  # one line per run that did not finish
    not_applicable: int = 0
    waived: tuple[str, ...] = ()  # required checks dropped: not applicable to the campaign
    advisory_failed: int = 0  # advisory checks that failed: shown, never failing the rehearsal
    off: int = 0  # checks the scenario turned off
    predictions: tuple[str, ...] = ()  # beside what was not verified: a model's prediction, labelled (calibration/)

    @property
    def outcome(self) -> Outcome:
        """FAIL when a check failed; else INCONCLUSIVE when a required check was not verified or
        a run did not finish; else PASS."""
        if self.failed:
            return "fail"
        return "inconclusive" if self.required_unverified or self.interrupted else "pass"

    @property
    def ok(self) -> bool:
        return self.outcome == "pass"

    @property
    def word(self) -> str:
        return OUTCOME_WORD[self.outcome]

    @property
    def exit_code(self) -> int:
        return EXIT_CODE[self.outcome]

    @property
    def to_conclude(self) -> tuple[str, ...]:
        """What would make an inconclusive rehearsal conclusive: one line per required check not
        verified (its own remedy, else why it was not) and per run that did not finish."""
        remedies: dict[tuple[str, str], list[str]] = {}  # (run, what would verify) -> the keys it verifies
        for v in self.required_unverified:
            why = v.to_verify or (f"{v.evidence[0].detail}: a run against the target that can judge it"
                                  if v.evidence else "a run against the target that can judge it")
            keys = remedies.setdefault((v.run, why), [])
            if v.key not in keys:
                keys.append(v.key)
        lines = [f"{(run + ': ') if run else ''}{', '.join(keys)}: {why}" for (run, why), keys in remedies.items()]
        return tuple(dict.fromkeys(lines + list(self.interrupted)))

    @property
    def headline(self) -> str:
        """One line: PASS, FAIL or INCONCLUSIVE and why, e.g. "INCONCLUSIVE: 43 passed; 0 failed;
        ...; 2 required check(s) not verified (...)"."""
        parts = [f"{self.passed} passed", f"{self.failed} failed", f"{self.unverified} not verified"]
        if self.advisory_failed:
            parts.append(f"{self.advisory_failed} advisory failed (not failing)")
        if self.not_applicable:
            parts.append(f"{self.not_applicable} not applicable")
        if self.off:
            parts.append(f"{self.off} off")
        if self.waived:
            parts.append(f"required but not applicable to this campaign, so not required: {', '.join(self.waived)}")
        if self.required_unverified:
            keys = sorted({(f"{v.run}: " if v.run else "") + v.key for v in self.required_unverified})
            parts.append(f"{len(self.required_unverified)} required check(s) not verified ({', '.join(keys)})")
        parts += list(self.interrupted)
        return f"{self.word}: " + "; ".join(parts)


def missing_evidence(verdicts: Sequence[Verdict], required: Sequence[str]) -> list[Verdict]:
    """The required checks one run against the target did not verify: every verdict of a required
    key must be judged (pass or fail) in the run (one ban verified does not verify another), but
    for an event the run ended too soon after to judge (a ban within the failover promise of its
    end: `out_of_time`); a key the run did not judge at all counts too. `required` holds gate names (every check of the gate) and `gate.slug` keys."""
    missing: dict[str, Verdict] = {}
    for v in verdicts:  # every verdict of a required key must be judged (each ban, each action)
        if v.status == "unverified" and not v.out_of_time and requires(v.key, required):
            missing.setdefault(v.key, v)
    # a key judged only by verdicts the run ran out of time for is not verified either
    seen = {v.key for v in verdicts if not v.out_of_time}
    every = [k for key in required for k in ([key] if "." in key else [f"{key}.{c}" for c in CHECKS.get(key, ())])]
    for key in dict.fromkeys(every):
        if key not in seen:
            gate, slug = key.split(".", 1)
            run = verdicts[0].run if verdicts else ""
            missing[key] = replace(unverified(gate, slug.replace("_", " "), "no check of this kind was judged in "
                                              "the run", slug), run=run)
    return list(missing.values())


def tally(verdicts: Sequence[Verdict], missing: Sequence[Verdict] = (), interrupted: Sequence[str] = (),
          waived: Sequence[str] = ()) -> Tally:
    """Count the verdicts of a rehearsal, with the required checks its live runs did not verify
    (`missing_evidence`, per run against the target: a simulation is a prediction, not evidence
    about the target), a line per run that did not finish, and the required checks dropped as
    not applicable to the campaign (`waived`)."""
    return Tally(passed=sum(v.status == "pass" for v in verdicts),
                 failed=sum(v.failed for v in verdicts),
                 unverified=sum(v.status == "unverified" for v in verdicts),
                 required_unverified=tuple(missing), interrupted=tuple(interrupted),
                 not_applicable=sum(v.status == "not_applicable" for v in verdicts), waived=tuple(waived),
                 advisory_failed=sum(v.status == "fail" and v.advisory for v in verdicts),
                 off=sum(v.status == "off" for v in verdicts))
