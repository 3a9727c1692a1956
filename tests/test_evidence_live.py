"""Real swarm runs against a small backend of our own (tests/stub_backend.py), not the reference
one: books that under-record what was paid fail the books cross-check, a backend that pays every
copy of a retried attempt fails the attempt check, and the honest one passes both. Short (6 s),
on 127.0.0.1, each ending by itself."""

from __future__ import annotations

import pytest

from rehearse.observations import load_run
from rehearse.judging.gates import all_gates
from rehearse.scenarios import load_scenario
from rehearse.swarm.orchestrate import SwarmRequest, run_swarm
from rehearse.swarm.settings import SwarmSettings
from stub_backend import Books, serving

# live runs (a backend and a load generator on the 2 cores) go one at a time: see pyproject
pytestmark = pytest.mark.xdist_group("live")

# scripts get past the signature (the stub asks none) and burst every payout: attempts race
OVERRIDES = ("antifraud.signed_payouts=false", "personas.mix.fraud_script=0.3", "personas.mix.normal=0.4")


def statuses(books: Books, tmp_path) -> dict[str, str]:
    with serving(books) as url:
        settings = SwarmSettings(overrides=OVERRIDES, users=20, scale=400.0, duration_s=6.0, run_dir=tmp_path / "run",
                                 ops_token="unused")
        result = run_swarm(SwarmRequest(settings=settings, host=url))
    assert result.status == "finished", [log.read_text()[-1500:] for log in result.logs]
    verdicts = all_gates(load_run(tmp_path / "run"), load_scenario(overrides=OVERRIDES))
    return {v.key: v.status for v in verdicts if v.key in ("payout.paid_once", "payout.books_match")}


def test_an_honest_backend_passes_the_attempt_and_books_checks(tmp_path):
    assert statuses(Books(), tmp_path) == {"payout.paid_once": "pass", "payout.books_match": "pass"}


def test_a_backend_that_under_records_and_pays_a_retry_twice_fails_both(tmp_path):
    """One backend with both defects: books that record 80 % of what it paid, and every copy of
    a retried or burst attempt paid."""
    assert statuses(Books(records_share=0.8, pays_every_copy=True), tmp_path) == {
        "payout.paid_once": "fail", "payout.books_match": "fail"}
