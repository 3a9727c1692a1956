"""The target contract: actions become requests, responses become outcomes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rehearse.personas.steps import Act
from rehearse.scenarios import ScenarioError, load_scenario
from rehearse.client.contract import ContractError, DeclarativeContract, RequestSpec, load_contract
from rehearse.client.http import send

USER = SimpleNamespace(phone="13912345678", channel="video_a", ip="100.64.1.2", device_id="d1")


@pytest.fixture(scope="module")
def contract(scenario):
    return DeclarativeContract(scenario.target)


def test_login_request_leaves_out_what_it_does_not_have_yet(contract):
    spec = contract.build(Act("login", invite_code=None), USER, {})
    assert spec == RequestSpec(
        action="login", method="POST", path="/api/login", query={},
        headers={"X-Forwarded-For": "100.64.1.2", "X-Device-Id": "d1"},
        json={"phone": "13912345678", "channel_id": "video_a"})


def test_session_values_fill_later_requests(contract):
    spec = contract.build(Act("open_envelope", institution="anhe"), USER, {"token": "t0k"})
    assert (spec.method, spec.path) == ("POST", "/api/institutions/anhe/envelope")
    assert spec.headers["Authorization"] == "Bearer t0k"


def test_a_path_that_cannot_be_filled_is_a_clear_error(contract):
    with pytest.raises(ContractError, match=r"target.actions.open_envelope.path needs a value this step "
                                            r"does not have: /api/institutions/\{params.institution\}"):
        contract.build(Act("open_envelope"), USER, {})


def test_visit_link_goes_to_the_target_with_the_link_domain_as_host(contract):
    spec = contract.build(Act("visit_link", url="https://hb2.yearend-wealth.example/s/abc?ch=video_a"), USER, {})
    assert (spec.path, spec.host) == ("/s/abc?ch=video_a", "hb2.yearend-wealth.example")


def test_reading_responses(contract):
    ok, learned = contract.read(Act("login"), 200, b'{"token": "t", "user_id": 4, "invite_code": "c0de"}', 3.0)
    assert learned == {"token": "t", "user_id": 4, "invite_code": "c0de"}
    assert ok.ok and ok.data["invite_code"] == "c0de" and ok.latency_ms == 3.0
    paid, _ = contract.read(Act("open_envelope"), 200, b'{"amount_fen": 123}', 1.0)
    assert paid.payout_fen == 123
    refused, _ = contract.read(Act("open_envelope"), 423, b'{"error": "envelope_locked"}', 1.0)
    assert (refused.ok, refused.refused, refused.error) == (False, True, "envelope_locked")
    broken, _ = contract.read(Act("open_envelope"), 500, b"oops", 1.0)
    assert (broken.ok, broken.refused, broken.error) == (False, False, "HTTP 500")


def test_a_refusal_that_names_a_phone_number_is_recorded_masked(contract):
    refused, _ = contract.read(Act("login"), 403, b'{"error": "13912345678 is blacklisted"}', 1.0)
    assert refused.error == "139****5678 is blacklisted"  # the reason goes into rows and reports


def test_a_journey_through_the_contract_against_the_reference_backend(start_backend):
    contract = load_contract(load_scenario().target)
    with start_backend() as b:
        session: dict = {}

        def do(act: Act, who=USER, sess=None):
            sess = session if sess is None else sess
            spec = contract.build(act, who, sess)
            outcome, learned = contract.read(act, *send(b.http, spec))
            sess.update(learned)
            return outcome

        assert do(Act("open_page")).ok
        assert do(Act("login", invite_code=None)).ok
        locked = do(Act("open_envelope", institution="anhe"))
        assert (locked.refused, locked.error) == (True, "envelope_locked")
        for task in ("watch_live", "follow_account"):
            assert do(Act("complete_task", institution="anhe", task=task)).ok
        assert do(Act("open_envelope", institution="anhe")).payout_fen > 0
        share = do(Act("share"))
        friend = SimpleNamespace(phone="13987654321", channel="video_b", ip="100.64.9.9", device_id="d2")
        friend_session: dict = {}
        visit = do(Act("visit_link", url=share.data["share_url"]), friend, friend_session)
        assert visit.data["invite_code"] == session["invite_code"]
        joined = do(Act("login", invite_code=visit.data["invite_code"]), friend, friend_session)
        assert joined.ok and b.http.get("/api/me", headers={"Authorization": f"Bearer {session['token']}"}
                                        ).json()["invites_counted"] == 1


class EchoAdapter:
    """An adapter for a backend whose API does not fit the declarative mapping."""

    def __init__(self, target):
        self.target = target

    def build(self, act, user, session, step_id=""):
        return RequestSpec(action=act.action, method="POST", path="/rpc", json={"call": act.action})

    def read(self, act, status, body, latency_ms, headers=None):
        raise NotImplementedError


def test_an_adapter_class_replaces_the_mapping():
    scenario = load_scenario(overrides=["target.adapter=test_contract:EchoAdapter", "target.actions={}"])
    spec = load_contract(scenario.target).build(Act("grand_draw"), USER, {})
    assert (spec.path, spec.json) == ("/rpc", {"call": "grand_draw"})


@pytest.mark.parametrize("adapter, message", [
    ("no_such_module:X", "cannot import no_such_module"),
    ("test_contract:Missing", "test_contract has no Missing"),
])
def test_a_bad_adapter_is_reported_when_the_scenario_is_read(adapter, message):
    with pytest.raises(ScenarioError, match=message):
        load_scenario(overrides=[f"target.adapter={adapter}"])


def test_operations_against_the_reference_backend(start_backend, scenario):
    contract = load_contract(scenario.target)
    with start_backend() as b:
        token = {"ops_token": b.running.backend.ops_token}
        ban = contract.build_operation("report_ban", {**token, "domain": scenario.links.primary_domains[0]})
        assert send(b.http, ban)[0] == 200
        pool = contract.read_operation("link_pool", *send(b.http, contract.build_operation("link_pool", token))[:2])
        assert pool == {"healthy_domains": len(scenario.links.primary_domains), "banned_domains": 1}
        ledger = contract.read_operation("ledger", *send(b.http, contract.build_operation("ledger", token))[:2])
        assert {k: ledger[k] for k in ("budget_left_fen", "paid_fen", "alarm_level", "paid_twice")} == {
            "budget_left_fen": scenario.budget.total_fen, "paid_fen": 0, "alarm_level": 0, "paid_twice": 0}
        assert ledger["pools"]["anhe"]["left_fen"] == scenario.budget.institutions_fen["anhe"]
        no_token = contract.build_operation("ledger", {})
        assert contract.read_operation("ledger", *send(b.http, no_token)[:2]) is None
        assert contract.build_operation("no_such_operation", token) is None


def test_adapters_written_against_the_old_import_path_still_import():
    from rehearse.client import contract
    from rehearse.swarm.contract import Contract, DeclarativeContract, RequestSpec

    assert (Contract, DeclarativeContract, RequestSpec) == (contract.Contract, contract.DeclarativeContract,
                                                           contract.RequestSpec)
