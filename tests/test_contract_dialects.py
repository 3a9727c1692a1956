"""The target contract speaks the dialects real backends use: business codes in 200 answers,
money in yuan strings, cookie sessions, values inside values, computed fields, adapters that
override one action, and mapping mistakes caught before a run."""

from __future__ import annotations

import json

import hashlib
import random
from types import SimpleNamespace

import pytest

from rehearse.personas.identity import IdentityFactory
from rehearse.personas.steps import Act
from rehearse.scenarios import ScenarioError, load_scenario
from rehearse.scenarios.target import Target
from rehearse.client.contract import COOKIES, DeclarativeContract, RequestSpec, fen_of, load_contract
from rehearse.client.templates import remember
from rehearse.client.player import Player

USER = SimpleNamespace(phone="13912345678", channel="video_a", ip="100.64.1.2", device_id="d1")
GET = {"method": "GET", "path": "/x"}


def _target(actions: dict, **target) -> Target:
    mapped = {name: {**GET, **actions.get(name, {})} for name in
              ("open_page", "view_rules", "login", "complete_task", "open_envelope", "open_invite_envelope",
               "grand_draw", "share", "visit_link", "follow")}
    return Target.model_validate({"ok_when": {"path": "code", "equals": 0},
                                  "refused_when": {"path": "code", "in": [40301, 40901]},
                                  "reason": "msg", "payout_unit": "yuan", "actions": mapped, **target})


def read(contract, action: str, status: int, body: bytes, headers=None):
    return contract.read(Act(action), status, body, 1.0, headers)


def test_business_codes_in_200_answers_are_judged_by_the_body():
    contract = DeclarativeContract(_target({"open_envelope": {"payout_field": "data.amount"}}))
    done, _ = read(contract, "open_envelope", 200, b'{"code": 0, "msg": "ok", "data": {"amount": "3.45"}}')
    assert (done.ok, done.refused, done.payout_fen) == (True, False, 345)
    refused, _ = read(contract, "open_envelope", 200, b'{"code": 40901, "msg": "already claimed", "data": null}')
    assert (refused.ok, refused.refused, refused.error, refused.payout_fen) == (False, True, "already claimed", 0)
    broken, _ = read(contract, "open_envelope", 200, b'{"code": 50000, "msg": "system busy"}')
    assert (broken.ok, broken.refused, broken.error) == (False, False, "not ok: system busy")
    crashed, _ = read(contract, "open_envelope", 502, b"<html>bad gateway</html>")
    assert (crashed.ok, crashed.refused, crashed.error) == (False, False, "HTTP 502")
    codes_as_text, _ = read(contract, "open_envelope", 200, b'{"code": "40301", "msg": "not started"}')
    assert codes_as_text.refused and codes_as_text.error == "not started"


def test_payouts_in_the_forms_backends_use():
    """An amount in the answer, units times a value, or a fixed amount per ok answer (a sale's
    unit, a success flag judged by ok_when): never a boolean read as an amount."""
    contract = DeclarativeContract(_target({
        "open_envelope": {"payout_field": "data.quantity", "payout_unit": 1999},  # units x 19.99 yuan
        "grand_draw": {"ok_when": {"path": "success", "equals": True}, "payout_fixed_fen": 5000},
    }, ok_when=None))
    assert read(contract, "open_envelope", 200, b'{"data": {"quantity": 3}}')[0].payout_fen == 5997
    sold, _ = read(contract, "grand_draw", 200, b'{"success": true}')
    assert (sold.ok, sold.payout_fen) == (True, 5000)
    none, _ = read(contract, "grand_draw", 200, b'{"success": false}')
    assert (none.ok, none.payout_fen) == (False, 0)
    with pytest.raises(ValueError, match="payout_field and payout_fixed_fen both given"):
        _target({"grand_draw": {"payout_field": "amount", "payout_fixed_fen": 100}})


def test_per_action_judging_overrides_the_target():
    contract = DeclarativeContract(_target({"share": {"ok_when": {"path": "data.url", "exists": True}}}))
    assert read(contract, "share", 200, b'{"code": 7, "data": {"url": "https://a.example/l/1"}}')[0].ok
    assert not read(contract, "share", 200, b'{"code": 0, "data": {}}')[0].ok


def test_the_reason_of_a_refusal_is_found_where_backends_put_it():
    contract = DeclarativeContract(load_scenario().target)  # no `reason`: error, msg, message, detail
    for body, reason in ((b'{"error": "pool_empty"}', "pool_empty"), (b'{"detail": "not active"}', "not active"),
                         (b'{"msg": "already claimed"}', "already claimed"), (b"{}", "HTTP 409")):
        assert read(contract, "open_envelope", 409, body)[0].error == reason


@pytest.mark.parametrize("amount, unit, fen", [
    ("3.45", "yuan", 345), (3.45, "yuan", 345), (3, "yuan", 300), ("1.23456789", "yuan", 123),
    ("0.005", "yuan", 1), ("0.0049", "yuan", 0), ("-0.005", "yuan", -1), (123, "fen", 123), ("123", "fen", 123),
    (12.5, "fen", 13), ("2500", 0.01, 25), ("abc", "yuan", 0), (None, "yuan", 0), (True, "yuan", 0),
    ("NaN", "yuan", 0),
])
def test_money_in_any_unit_is_read_exactly_and_rounded_half_away_from_zero(amount, unit, fen):
    from rehearse.scenarios.target import unit_factor

    assert fen_of(amount, unit_factor(unit)) == fen


def test_extract_reads_headers_cookies_and_values_inside_values():
    contract = DeclarativeContract(_target({
        "login": {"extract": {"uid": "data.uid", "sid": "cookie:SID", "trace": "header:X-Trace"}},
        "share": {"extract": {"share_url": "data.share_url", "share_domain": "data.share_url | host",
                              "share_path": "data.share_url | path", "code": "data.share_url | regex:/l/(\\w+)"}},
    }))
    headers = {"Set-Cookie": "SID=s3cr3t; Path=/; HttpOnly", "X-Trace": "t-1"}
    login, learned = read(contract, "login", 200, b'{"code": 0, "data": {"uid": 9}}', headers)
    assert learned == {COOKIES: {"SID": "s3cr3t"}, "uid": 9, "sid": "s3cr3t", "trace": "t-1"}
    _, shared = read(contract, "share", 200, b'{"code": 0, "data": {"share_url": "https://bk2.go.example/l/ab12?c=1"}}')
    assert (shared["share_domain"], shared["share_path"], shared["code"]) == ("bk2.go.example", "/l/ab12?c=1", "ab12")


def test_each_participant_has_its_own_cookie_jar():
    contract = DeclarativeContract(_target({}))
    alice, bob = {}, {}
    remember(alice, read(contract, "login", 200, b'{"code": 0}', {"set-cookie": "SID=a; Path=/"})[1])
    remember(bob, read(contract, "login", 200, b'{"code": 0}', {"set-cookie": "SID=b; Path=/"})[1])
    assert contract.build(Act("share"), USER, alice).headers["Cookie"] == "SID=a"
    assert contract.build(Act("share"), USER, bob).headers["Cookie"] == "SID=b"
    remember(alice, read(contract, "login", 200, b'{"code": 0}', {"set-cookie": "SID=; Max-Age=0"})[1])
    assert "Cookie" not in contract.build(Act("share"), USER, alice).headers
    off = DeclarativeContract(_target({}, cookies=False))
    _, learned = read(off, "login", 200, b'{"code": 0}', {"set-cookie": "SID=a"})
    assert COOKIES not in learned


def test_one_engine_user_playing_two_participants_never_carries_the_first_ones_cookie():
    scenario = load_scenario(overrides=["target.headers={}"])
    contract = load_contract(scenario.target)
    identities = IdentityFactory(scenario, 1)
    player = Player(scenario, contract, identities, random.Random(1), lambda: 3600.0, 1e9, lambda row: None)
    journeys = []
    for n in range(2):  # one engine user (one player, one send) plays two participants in turn
        seen: list[tuple[str, str]] = []

        def send(spec: RequestSpec, seen=seen, n=n):
            seen.append((spec.action, spec.headers.get("Cookie", "")))
            return 200, b'{"token": "t"}', 1.0, {"set-cookie": f"SID=p{n}"} if spec.action == "login" else {}

        player.play(identities.new("normal", 3600.0), send, lambda s: None)
        journeys.append(seen)
    for n, seen in enumerate(journeys):
        login = [action for action, _ in seen].index("login")
        assert {cookie for _, cookie in seen[:login + 1]} == {""}, seen  # nothing before its own login
        assert {cookie for _, cookie in seen[login + 1:]} == {f"SID=p{n}"}, seen  # then only its own


def sign(call) -> str:
    """A template function: an HMAC-like signature over the body as built, with the session key."""
    text = f"{call.session.get('key', '')}|{call.method}|{call.path}|{sorted(call.body.items())}|{call.step_id}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_step_and_request_ids_and_template_functions():
    contract = DeclarativeContract(_target({"open_envelope": {
        "method": "POST", "path": "/bag/open", "body": {"inst": "{params.institution}", "sig": "{fn.sign}"},
        "headers": {"Idempotency-Key": "{step.id}", "X-Request-Id": "{request.id}"}}},
        functions={"sign": "test_contract_dialects:sign"}))
    act = Act("open_envelope", institution="anhe", burst=3)
    copies = [contract.build(act, USER, {"key": "k1"}, "u1#4") for _ in range(3)]
    assert {c.headers["Idempotency-Key"] for c in copies} == {"u1#4"}
    assert len({c.headers["X-Request-Id"] for c in copies}) == 3
    expected = sign(SimpleNamespace(session={"key": "k1"}, method="POST", path="/bag/open",
                                    body={"inst": "anhe"}, step_id="u1#4"))
    assert copies[0].json == {"inst": "anhe", "sig": expected}


def test_the_player_gives_a_bursts_copies_one_step_id_and_their_own_request_ids():
    scenario = load_scenario(overrides=[
        'target.actions.open_envelope.headers={"Idempotency-Key": "{step.id}", "X-Request-Id": "{request.id}"}'])
    contract = load_contract(scenario.target)
    player = Player(scenario, contract, IdentityFactory(scenario, 1), random.Random(1), lambda: 3600.0, 1.0,
                    lambda row: None)
    sent: list[RequestSpec] = []
    user = player.identities.new("fraud_script", 3600.0)
    act = Act("open_envelope", institution="anhe", burst=3)
    for _ in range(2):  # a retry: the same Act yielded again
        player.act(act, user, {}, sent.append, lambda specs: [sent.extend(specs) or (409, b"{}", 1.0)
                                                             for _ in specs])
    assert len({s.headers["Idempotency-Key"] for s in sent}) == 1
    assert len({s.headers["X-Request-Id"] for s in sent}) == 6


class LoginBySignature(DeclarativeContract):
    """An adapter that maps declaratively and builds one action itself."""

    def build(self, act, user, session, step_id=""):
        if act.action != "login":
            return super().build(act, user, session, step_id)
        return RequestSpec("login", "POST", "/rpc/login", json={"m": user.phone[::-1]})


def test_an_adapter_overrides_one_action_and_maps_the_rest():
    mapping = load_scenario().target.model_dump(by_alias=True)
    del mapping["actions"]["login"]
    contract = load_contract(Target.model_validate({**mapping, "adapter": "test_contract_dialects:LoginBySignature"}))
    assert contract.build(Act("login"), USER, {}).json == {"m": "87654321931"}
    assert contract.build(Act("open_page"), USER, {}).path == "/api/campaign"


@pytest.mark.parametrize("override, message", [
    ('target.actions.login.body={"phone": "{user.phnoe}"}', r"user has no field 'phnoe' \(known: .*phone"),
    ('target.actions.share.headers={"X-S": "{session.sid}"}', r"session has no field 'sid' .*add it to some "
                                                                 r"action's extract"),
    ('target.actions.login.body={"amount": "{params.amount}"}', r"params has no field 'amount' \(known: "
                                                                  r"invite_code\)"),
    ('target.actions.login.body={"s": "{fn.sign}"}', r"fn has no field 'sign' \(known: none\); add it to "
                                                     r"target.functions"),
    ("target.functions={sign: 'no_such_module:sign'}", r"functions.sign no_such_module:sign: cannot import "
                                                   r"no_such_module"),
    ("target.functions={sign: 'test_contract_dialects:nothing'}", r"test_contract_dialects has no nothing"),
    ("target.adapter=no_such_module:X", r"adapter no_such_module:X: cannot import no_such_module"),
    ('target.actions.share.extract={"d": "url | hots"}', r"unknown transform 'hots'; use host, path or regex"),
    ('target.actions.share.extract={"d": "url | regex:(("}', r"regex '\(\(' does not compile"),
    ('target.ok_when={"path": "code", "equals": 0, "exists": true}', r"exactly one of equals, in, exists"),
    ("target.payout_unit=dollars", r"payout_unit"),
])
def test_mapping_mistakes_are_one_line_errors_before_any_traffic(override, message):
    with pytest.raises(ScenarioError, match=message) as error:
        load_scenario(overrides=[override])
    assert "\n" not in str(error.value)


def test_an_idempotent_replay_is_done_and_pays_nothing_new():
    contract = DeclarativeContract(_target({"open_envelope": {
        "payout_field": "data.amount", "replayed_when": {"header": "Idempotent-Replayed", "equals": "true"}}}))
    body = b'{"code": 0, "data": {"amount": "1.34", "order_no": "o1"}}'
    first, _ = read(contract, "open_envelope", 200, body, {"Content-Type": "application/json"})
    again, _ = read(contract, "open_envelope", 200, body, {"idempotent-replayed": "true"})
    assert (first.ok, first.payout_fen) == (True, 134)
    assert (again.ok, again.payout_fen, again.error) == (True, 0, "replayed: 134 fen")  # the judge holds it to that


def test_operations_answered_with_a_business_refusal_give_nothing():
    mapping = load_scenario().target.model_dump(by_alias=True)
    contract = DeclarativeContract(Target.model_validate({**mapping, "ok_when": {"path": "code", "equals": 0}}))
    assert contract.read_operation("link_pool", 200, b'{"code": 40100, "msg": "bad key"}') is None
    assert contract.read_operation("link_pool", 200, b'{"code": 0, "issuing": ["a"], "banned": []}') == {
        "healthy_domains": 1, "banned_domains": 0}


def test_a_back_office_in_yuan_is_read_and_written_in_fen():
    """An operation's own payout_unit (the answers players see are in yuan here, the books too,
    but only the operation's unit counts for the books): *_fen values and pools read into fen,
    a value that is no number stays missing; X_yuan params give the harness's fen in yuan."""
    ops = {"ledger": {"method": "GET", "path": "/ops/ledger", "payout_unit": "yuan",
                      "extract": {"paid_fen": "data.paid", "budget_left_fen": "data.left", "pools": "data.pools",
                                  "paid_twice": "data.dup"}},
           "limit_pool": {"method": "POST", "path": "/ops/pool", "body": {"pool": "{params.pool}",
                                                                          "left": "{params.left_yuan}"}},
           "topup": {"method": "POST", "path": "/ops/topup", "body": {"amount": "{params.amount_yuan}"}},
           "link_pool": {"method": "GET", "path": "/ops/links", "extract": {"healthy_domains": "data.ok"}}}
    contract = DeclarativeContract(_target({}, operations=ops))
    books = contract.read_operation("ledger", 200, json.dumps({"code": 0, "data": {
        "paid": "331.15", "left": None, "dup": 2,
        "pools": {"anhe": {"left_fen": "-0.48", "paid_fen": 12.5, "name": "Anhe"}, "bad": {"left_fen": "n/a"}}}}).encode())
    assert books == {"paid_fen": 33115, "budget_left_fen": None, "paid_twice": 2,
                     "pools": {"anhe": {"left_fen": -48, "paid_fen": 1250, "name": "Anhe"}, "bad": {"left_fen": None}}}
    cut = contract.build_operation("limit_pool", {"pool": "anhe", "left_fen": 1440})
    assert cut.json == {"pool": "anhe", "left": "14.40"}
    assert contract.build_operation("topup", {"amount_fen": 5}).json == {"amount": "0.05"}
    # the target's payout_unit (yuan) is the players' answers', not the books': unset, as written
    fen = {**ops["ledger"], "payout_unit": None}
    plain = DeclarativeContract(_target({}, operations={**ops, "ledger": fen}))
    assert plain.read_operation("ledger", 200, b'{"code": 0, "data": {"paid": 331}}')["paid_fen"] == 331


def test_a_rate_limit_in_a_business_code_is_a_throttled_refusal():
    contract = DeclarativeContract(_target({}, throttled_when={"path": "code", "equals": 42901}))
    slow, _ = read(contract, "login", 200, b'{"code": 42901, "msg": "slow down"}')
    assert (slow.ok, slow.refused, slow.error) == (False, True, "throttled: slow down")


def test_template_filters_make_a_harness_key_a_valid_email_slug_or_case():
    from rehearse.personas.identity import Identity

    user = Identity(persona="prober", user_key="harness/lane1/Prober-000004", phone="13912345678", name="x",
                    channel="Video_A", ip="100.64.1.2", device_id="d1")
    contract = DeclarativeContract(_target({"login": {
        "method": "POST", "path": "/u/{user.key|slug}",
        "body": {"email": "{user.key|email}", "mail": "{user.email}", "ch": "{user.channel|lower}",
                 "CH": "{user.channel | upper}", "both": "{user.channel|slug|upper}"}}}))
    spec = contract.build(Act("login", invite_code=None), user, {}, "s1")
    assert spec.path == "/u/harness-lane1-prober-000004"
    assert spec.json == {"email": "harness-lane1-prober-000004@example.com",
                         "mail": "harness-lane1-prober-000004@example.com", "ch": "video_a", "CH": "VIDEO_A",
                         "both": "VIDEO-A"}


def test_an_unknown_filter_is_a_one_line_error():
    with pytest.raises(ScenarioError, match=r"names the filter \|shout; a field may be passed through \|slug"):
        load_scenario(overrides=['target.actions.login.body={phone: "{user.phone|shout}"}'])


def first(call) -> str:
    return f"a:{call.step_id}"


def second(call) -> str:
    """A function that reads the one called before it (target.functions' order)."""
    return f"b({call.fn['first']}|{call.body.get('one')})"


def test_functions_are_called_in_their_order_each_seeing_the_values_filled_before_it():
    contract = DeclarativeContract(_target({"open_envelope": {
        "method": "POST", "path": "/bag/open", "body": {"one": "{fn.first}", "two": "{fn.second}"}}},
        functions={"first": "test_contract_dialects:first", "second": "test_contract_dialects:second"}))
    spec = contract.build(Act("open_envelope", institution="anhe"), USER, {}, "u1#4")
    assert spec.json == {"one": "a:u1#4", "two": "b(a:u1#4|a:u1#4)"}


def test_a_refusal_by_body_condition_holds_for_a_400_too():
    contract = DeclarativeContract(_target({"open_envelope": {"method": "POST", "path": "/buy"}},
                                           ok_when=None, reason="error",
                                           refused_when={"path": "error", "in": ["sold_out", "already_ordered"]}))
    act = Act("open_envelope", institution="anhe")
    refused, _ = contract.read(act, 400, b'{"error": "sold_out"}', 3.0)
    broken, _ = contract.read(act, 400, b'{"error": "bad json"}', 3.0)
    assert refused.refused and not refused.ok and refused.error == "sold_out"
    assert not broken.refused and not broken.ok


def test_a_server_error_is_broken_whatever_its_body_says():
    contract = DeclarativeContract(_target({"open_envelope": {"method": "POST", "path": "/buy"}}, ok_when=None,
                                           reason="error", refused_when={"path": "error", "in": ["sold_out"]}))
    outcome, _ = contract.read(Act("open_envelope", institution="anhe"), 503, b'{"error": "sold_out"}', 3.0)
    assert not outcome.ok and not outcome.refused
