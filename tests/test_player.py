"""The player's rows carry the harness's own ledger: the prize a payout drew on, the attempt it
belongs to (a burst's copies and a step's retries share one), and a request cut off by a stop."""

from __future__ import annotations

import json
import random

import pytest
from gevent import GreenletExit

from rehearse.observations import REQUESTS
from rehearse.personas.identity import IdentityFactory
from rehearse.personas.steps import Act
from rehearse.client.contract import load_contract
from rehearse.client.player import Player


@pytest.fixture
def player(scenario):
    rows: list[dict] = []
    p = Player(scenario, load_contract(scenario.target), IdentityFactory(scenario, 1), random.Random(1),
               clock=lambda: 60.0, compress=1.0, record=lambda values: rows.append(dict(zip(REQUESTS.columns, values))))
    p.rows = rows
    return p


def paid(spec):
    return 200, json.dumps({"amount_fen": 88}).encode(), 5.0


def refused(spec):
    return 409, b'{"error": "already_claimed"}', 5.0


def test_a_retry_shares_its_attempt_and_a_new_step_does_not(player):
    user, session = player.identities.new("normal"), {"token": "t", "sign": "s"}
    envelope = Act("open_envelope", institution="anhe")
    player.act(envelope, user, session, refused)
    player.act(envelope, user, session, paid)  # the persona yields the same Act again: a retry
    player.act(Act("open_envelope", institution="anhe"), user, session, paid)  # a new step
    player.act(Act("grand_draw"), user, session, paid)
    attempts = [r["attempt"] for r in player.rows]
    assert attempts[0] == attempts[1] != attempts[2] != attempts[3]
    assert [r["prize"] for r in player.rows] == ["anhe", "anhe", "anhe", "grand"]
    assert all(a.startswith(user.user_key + "#") for a in attempts)


def test_the_copies_of_a_burst_are_one_attempt(player):
    user, session = player.identities.new("fraud_script"), {"token": "t", "sign": "s"}
    burst = Act("open_envelope", institution="beichen", burst=3)
    player.act(burst, user, session, paid, send_burst=lambda specs: [paid(specs[0]), refused(specs[1]), paid(specs[2])])
    assert len(player.rows) == 3 and len({r["attempt"] for r in player.rows}) == 1
    assert sorted(r["payout_fen"] for r in player.rows) == [0, 88, 88]


@pytest.mark.parametrize("stop", [GreenletExit, KeyboardInterrupt])
def test_a_request_cut_off_by_a_stop_is_still_a_row(player, stop):
    user, session = player.identities.new("normal"), {"token": "t", "sign": "s"}

    def cut(spec):
        raise stop()

    with pytest.raises(stop):
        player.act(Act("open_envelope", institution="anhe", burst=2), user, session, cut,
                   send_burst=lambda specs: cut(specs[0]))
    assert [(r["status"], r["ok"], r["error"], r["prize"]) for r in player.rows] == [(0, False, "unanswered", "anhe")] * 2


@pytest.fixture
def keyed_player(scenario):
    """The bundled mapping with an idempotency key on the envelope: `Idempotency-Key: {step.id}`."""
    from rehearse.scenarios import load_scenario

    keyed = load_scenario(overrides=['target.actions.open_envelope={method: POST, path: '
                                     '"/api/institutions/{params.institution}/envelope", payout_field: amount_fen, '
                                     'headers: {Idempotency-Key: "{step.id}"}}'])
    rows: list[dict] = []
    p = Player(keyed, load_contract(keyed.target), IdentityFactory(keyed, 1), random.Random(1), clock=lambda: 60.0,
               compress=1.0, record=lambda values: rows.append(dict(zip(REQUESTS.columns, values))))
    p.rows = rows
    return p


def test_an_answer_repeated_for_one_idempotency_key_is_a_replay_not_a_second_payment(keyed_player):
    user, session = keyed_player.identities.new("fraud_script"), {"token": "t", "sign": "s"}
    burst = Act("open_envelope", institution="anhe", burst=3)
    keyed_player.act(burst, user, session, paid, send_burst=lambda specs: [paid(s) for s in specs])
    assert sorted((r["payout_fen"], r["error"]) for r in keyed_player.rows) == [
        (0, "replayed: 88 fen"), (0, "replayed: 88 fen"), (88, "")]  # the copies recorded before the winner


def test_two_different_answers_for_one_key_are_two_payments(keyed_player):
    user, session = keyed_player.identities.new("fraud_script"), {"token": "t", "sign": "s"}
    orders = iter(range(3))

    def paid_an_order(spec):
        return 200, json.dumps({"amount_fen": 88, "order": next(orders)}).encode(), 5.0

    keyed_player.act(Act("open_envelope", institution="anhe", burst=2), user, session, paid_an_order,
                     send_burst=lambda specs: [paid_an_order(s) for s in specs])
    assert [r["payout_fen"] for r in keyed_player.rows] == [88, 88]


def test_without_a_key_identical_answers_are_each_a_payment(player):
    user, session = player.identities.new("fraud_script"), {"token": "t", "sign": "s"}
    player.act(Act("open_envelope", institution="anhe", burst=2), user, session, paid,
               send_burst=lambda specs: [paid(s) for s in specs])
    assert [r["payout_fen"] for r in player.rows] == [88, 88]
