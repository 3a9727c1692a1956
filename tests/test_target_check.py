"""`rehearse target check`: a mapping played against a live backend, with warnings that name
the mapping's mistakes (here against the reference backend, auto-started on loopback)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.xdist_group("live")


def target_check(*overrides: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "rehearse", "target", "check"]
    for override in overrides:
        argv += ["--set", override]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env={"COLUMNS": "200",
                                                                                 **__import__("os").environ})


def test_the_bundled_mapping_has_no_warning_and_prints_no_secret():
    done = target_check()
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "No warnings." in done.stdout
    assert "judged  ok, paid" in done.stdout and "judged  refused: already_claimed" in done.stdout
    assert '"Authorization": "***"' in done.stdout and "Bearer" not in done.stdout
    assert '"token": "***"' in done.stdout


@pytest.mark.parametrize("override, warning", [
    ("target.actions.open_envelope.payout_field=amount",
     "target.actions.open_envelope.payout_field 'amount': an ok answer had no payout there"),
    ("target.actions.share.extract={share_url: link}", "target.actions.share: an ok share gave no link"),
    ("target.reason=why", "a refusal gave no reason at why"),
    ("target.actions.login.extract={token: data.token, user_id: user_id, invite_code: invite_code}",
     "session.token (used by "),
    ("target.actions.view_rules.ok_when={path: rules_version, exists: true}",
     "target.actions.view_rules: the answer was judged broken"),
    ("target.operations.ledger.path=/ops/ledgerz", "target.operations.ledger: the answer (404"),
    ("target.operations.link_pool.extract={healthy_domains: issuingz}",
     "target.operations.link_pool.extract: nothing at healthy_domains"),
])
def test_a_broken_mapping_gets_the_warning_that_names_the_mistake(override, warning):
    done = target_check(override)
    assert done.returncode == 1, done.stderr[-2000:]
    assert warning in " ".join(done.stdout.split()), done.stdout[-3000:]


def test_the_lucky_bag_mapping_has_no_warning_and_a_broken_one_names_its_mistake():
    from examples.lucky_bag.serve import ROOT, SCENARIO, serving

    def check(*overrides: str) -> subprocess.CompletedProcess:
        with serving() as (url, key):
            argv = [sys.executable, "-m", "rehearse", "target", "check", str(SCENARIO), "--host", url]
            for override in overrides:
                argv += ["--set", override]
            return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT,
                                  env={**__import__("os").environ, "COLUMNS": "200", "REHEARSE_OPS_TOKEN": key})

    healthy = check()
    assert healthy.returncode == 0, healthy.stdout[-3000:] + healthy.stderr[-2000:]
    assert "No warnings." in healthy.stdout and "ok (marked a replay of an earlier payment, " in healthy.stdout
    assert '"Cookie": "***"' in healthy.stdout and '"X-Sign": "***"' in healthy.stdout
    broken = check("target.actions.share.extract={share_url: data.url}")
    assert broken.returncode == 1
    assert "target.actions.share: an ok share gave no link" in " ".join(broken.stdout.split())


def test_it_says_what_it_will_spend_and_no_payouts_spends_nothing():
    said = subprocess.run([sys.executable, "-m", "rehearse", "target", "check", "--dry-run"], capture_output=True,
                          text=True, timeout=120)
    assert said.returncode == 0 and "payout requests (double taps included)" in said.stdout + said.stderr
    done = target_check("personas.mix={normal: 0.9, sharer: 0, fraud_script: 0.06, preheat_browser: 0.04}")
    assert "Sharer" not in done.stdout and "Normal participant" in done.stdout  # only the mix's personas
    argv = [sys.executable, "-m", "rehearse", "target", "check", "--no-payouts"]
    quiet = subprocess.run(argv, capture_output=True, text=True, timeout=120, env={"COLUMNS": "200",
                                                                                   **__import__("os").environ})
    assert "no payout request (--no-payouts)" in " ".join(quiet.stdout.split()), quiet.stdout[-2000:] + quiet.stderr[-2000:]
    sent = [line.split()[0] for line in quiet.stdout.splitlines() if line[:1].isalpha() and " /" in line]
    assert sent and not {"open_envelope", "grand_draw", "open_invite_envelope"} & set(sent)
