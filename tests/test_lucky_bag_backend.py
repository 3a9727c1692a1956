"""The Lucky Bag example backend, driven in-process through its HTTP API (httpx over ASGI):
business codes, yuan strings, cookie sessions, idempotency keys, signed payouts, the ops
routes, each planted fault against the healthy backend, and its scenario against its settings."""

from __future__ import annotations

import asyncio
import random
import re
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Awaitable, Callable

import httpx
import pytest
import yaml

from examples.lucky_bag import mapping
from examples.lucky_bag.app import create_app
from examples.lucky_bag.campaign import Campaign, Institution, RateLimit
from examples.lucky_bag.cli import main
from examples.lucky_bag.clock import CampaignClock
from examples.lucky_bag.codes import RULE_REFUSALS, Code
from examples.lucky_bag.game import Game

SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "lucky_bag" / "scenario.yaml"
ADMIN = {"X-Admin-Key": "test-admin-key"}
ROOMY = RateLimit(per_second=10_000, burst=10_000)  # tests of other rules act faster than people
FIXED_BAG = Institution("jinniu", "Jinniu Securities", ("watch_live",), min_fen=100, max_fen=100)


class Backend:
    """A Lucky Bag app on a stepped campaign clock (`t`: campaign seconds until /ops/clock
    sets it), and participants (one cookie jar each)."""

    def __init__(self, faults: tuple[str, ...] = (), t: float = 60.0, **campaign: Any) -> None:
        self.t = t
        settings = {"per_user": ROOMY, "per_ip": ROOMY, **campaign}
        self.game = Game(Campaign(**settings), CampaignClock(t, ticker=lambda: self.t), frozenset(faults),
                         random.Random(7), payment_latency_s=0.01)
        self.app = create_app(self.game, ADMIN["X-Admin-Key"])
        self._phones = 0

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://lucky.test")

    async def participant(self, mobile: str | None = None, **body: Any) -> "Participant":
        """A participant logged in with a fresh number (or `mobile`); the login must succeed."""
        person = Participant(self.client())
        answer = await person.login(mobile or self.fresh_mobile(), **body)
        assert answer["code"] == 0, answer
        return person

    def fresh_mobile(self) -> str:
        self._phones += 1
        return f"139{self._phones:08d}"

    async def ops(self, method: str, path: str, **body: Any) -> dict:
        async with self.client() as http:
            response = await http.request(method, path, headers=ADMIN, json=body or None)
        assert response.status_code == 200
        answer = response.json()
        assert answer["code"] == 0, answer
        return answer["data"]


class Participant:
    """One person: their own cookie jar (SID), and the sign_key from their login."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.sign_key = ""
        self.login_data: dict = {}

    async def call(self, method: str, path: str, body: dict | None = None, **headers: str) -> dict:
        response = await self.http.request(method, path, json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def login(self, mobile: str, **body: Any) -> dict:
        answer = await self.call("POST", "/v1/user/login", {"mobile": mobile, "channel": "sms", **body})
        if answer["code"] == 0:
            self.login_data = answer["data"]
            self.sign_key = answer["data"]["sign_key"]
        return answer

    async def tasks(self, inst: str = "jinniu", tasks: tuple[str, ...] = ("watch_live", "follow_account")) -> None:
        for task in tasks:
            assert (await self.call("POST", "/v1/task/done", {"inst": inst, "task": task}))["code"] == 0

    async def payout(self, path: str, body: dict | None = None, key: str = "step-1") -> httpx.Response:
        """A signed payout call with an Idempotency-Key, signed by the mapping's own hook."""
        call = SimpleNamespace(user=None, session={"sign_key": self.sign_key}, params={}, step_id=key,
                               request_id=key, method="POST", path=path, query={}, body=body, headers={})
        headers = {"Idempotency-Key": key, "X-Sign": mapping.sign(call)}
        response = await self.http.post(path, json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response

    async def open_bag(self, inst: str = "jinniu", key: str = "step-1") -> dict:
        return (await self.payout("/v1/bag/open", {"inst": inst}, key)).json()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def codes(answers: list[dict]) -> list[int]:
    return [a["code"] for a in answers]


# --- the answer format ---------------------------------------------------------------------

def test_every_answer_is_http_200_with_a_business_code():
    async def scenario() -> None:
        backend = Backend(t=-3600.0)  # preheat
        async with backend.client() as http:
            home = await http.get("/v1/act/home", params={"ch": "sms"})
            login = await http.post("/v1/user/login", json={"mobile": "13900000001"})
            missing = await http.get("/v1/nothing-here")
        assert home.status_code == login.status_code == missing.status_code == 200
        assert home.json()["code"] == 0 and home.json()["msg"] == "ok"
        assert home.json()["data"]["phase"] == "preheat" and home.json()["data"]["starts_in"] == 3600
        assert login.json() == {"code": 40301, "msg": login.json()["msg"], "data": None}
        assert "not started" in login.json()["msg"]
        assert missing.json()["code"] == Code.NOT_FOUND
    run(scenario)


def test_a_crash_is_a_500_with_code_50000():
    async def scenario() -> None:
        backend = Backend()
        backend.game.rules = None  # type: ignore[assignment]  # calling it now crashes
        async with backend.client() as http:
            response = await http.get("/v1/act/rules")
        assert response.status_code == 500
        assert response.json() == {"code": 50000, "msg": "internal error", "data": None}
    run(scenario)


def test_the_bag_amount_is_a_yuan_string_matching_the_fen_in_the_books():
    async def scenario() -> None:
        backend = Backend()
        person = await backend.participant()
        await person.tasks()
        answer = await person.open_bag()
        amount = answer["data"]["amount"]
        assert re.fullmatch(r"\d+\.\d{2}", amount)
        books = await backend.ops("GET", "/ops/ledger")
        assert Decimal(amount) * 100 == books["pools"]["jinniu"]["paid_fen"] == books["budget"]["paid_fen"]
    run(scenario)


# --- sessions ------------------------------------------------------------------------------

def test_login_sets_an_httponly_sid_cookie_that_authenticates_later_calls():
    async def scenario() -> None:
        backend = Backend()
        async with backend.client() as http:
            login = await http.post("/v1/user/login", json={"mobile": "13900000001"})
            cookie = login.headers["set-cookie"]
            assert re.match(r"SID=[\w-]+; HttpOnly; Path=/", cookie)
            with_cookie = await http.post("/v1/task/done", json={"inst": "jinniu", "task": "watch_live"})
        async with backend.client() as stranger:
            without = await stranger.post("/v1/task/done", json={"inst": "jinniu", "task": "watch_live"})
        assert with_cookie.json()["code"] == 0
        assert without.json()["code"] == Code.NOT_LOGGED_IN
    run(scenario)


def test_two_participants_do_not_share_a_session():
    async def scenario() -> None:
        backend = Backend()
        alice, bob = await backend.participant(), await backend.participant()
        assert alice.http.cookies["SID"] != bob.http.cookies["SID"]
        assert alice.login_data["uid"] != bob.login_data["uid"]
        await alice.tasks()
        assert (await alice.open_bag())["code"] == 0
        assert (await bob.open_bag())["code"] == Code.LOCKED  # Alice's tasks are not Bob's
    run(scenario)


# --- the rules' refusal codes --------------------------------------------------------------

def test_risk_control_refuses_virtual_segments_and_the_blacklist():
    async def scenario() -> None:
        backend = Backend()
        async with backend.client() as http:
            person = Participant(http)
            answers = [await person.login(m) for m in ("16212345678", "17112345678", "13800000011", "1391234")]
        assert codes(answers) == [Code.VIRTUAL_NUMBER, Code.VIRTUAL_NUMBER, Code.BLACKLISTED, Code.BAD_PARAMS]
        assert all(a["data"] is None for a in answers)
    run(scenario)


def test_each_rule_has_its_own_code():
    async def scenario() -> None:
        backend = Backend(shares_per_user=1)
        person = await backend.participant()
        assert (await person.open_bag())["code"] == Code.LOCKED
        await person.tasks()
        assert (await person.open_bag(key="a"))["code"] == 0
        assert (await person.open_bag(key="b"))["code"] == Code.ALREADY_CLAIMED  # a new tap, a new key
        assert codes([await person.call("POST", "/v1/share/create") for _ in range(2)]) == [0, Code.SHARE_CAP]
        assert (await person.payout("/v1/bag/invite", key="c")).json()["code"] == Code.LOCKED
        await backend.ops("POST", "/ops/pool/limit", pool="yinhe", left_fen=0)
        await person.tasks("yinhe")
        assert (await person.open_bag("yinhe", key="d"))["code"] == Code.POOL_EMPTY
        backend.t = backend.game.campaign.live_s + 1
        assert (await person.call("POST", "/v1/user/follow"))["code"] == Code.ENDED
    run(scenario)


def test_rate_limits_per_account_and_per_address():
    async def scenario() -> None:
        backend = Backend(per_user=RateLimit(1, 3), per_ip=RateLimit(1, 5))
        person = await backend.participant()  # the address's first token
        answers = [await person.call("POST", "/v1/user/follow") for _ in range(4)]
        assert codes(answers) == [0, 0, 0, Code.RATE_LIMITED]  # the account's burst of 3
        assert (await person.call("GET", "/v1/act/rules"))["code"] == Code.RATE_LIMITED  # the address's 5
        assert (await person.call("GET", "/v1/act/rules", **{"X-Forwarded-For": "10.0.0.9"}))["code"] == 0
        backend.t += 2  # campaign seconds refill the buckets
        assert (await person.call("POST", "/v1/user/follow"))["code"] == 0
    run(scenario)


def test_the_invite_bag_needs_three_new_friends_and_pays_once():
    async def scenario() -> None:
        backend = Backend()
        host = await backend.participant()
        code = host.login_data["invite_code"]
        for _ in range(2):
            await backend.participant(inviter=code)
        assert (await host.payout("/v1/bag/invite", key="a")).json()["code"] == Code.LOCKED
        await backend.participant(inviter=code)
        paid = (await host.payout("/v1/bag/invite", key="b")).json()
        assert paid["code"] == 0 and 1 <= Decimal(paid["data"]["amount"]) <= 5
        assert (await host.payout("/v1/bag/invite", key="c")).json()["code"] == Code.ALREADY_CLAIMED
    run(scenario)


def test_a_share_link_names_its_domain_and_a_visit_gives_the_inviter():
    async def scenario() -> None:
        backend = Backend()
        person = await backend.participant()
        url = (await person.call("POST", "/v1/share/create"))["data"]["share_url"]
        domain, path = re.fullmatch(r"https://([^/]+)(/l/[\w-]+)", url).groups()
        assert domain in backend.game.campaign.primary_domains
        async with backend.client() as visitor:
            visit = (await visitor.get(path, headers={"Host": domain})).json()
        assert visit["data"]["inviter"] == person.login_data["invite_code"]
        links = await backend.ops("GET", "/ops/links")
        assert links["domains"][domain]["visits"] == 1
    run(scenario)


# --- payouts: signature and idempotency ----------------------------------------------------

def test_payouts_need_a_valid_signature_and_an_idempotency_key():
    async def scenario() -> None:
        backend = Backend()
        person = await backend.participant()
        await person.tasks()
        body = {"inst": "jinniu"}
        unsigned = await person.call("POST", "/v1/bag/open", body, **{"Idempotency-Key": "k"})
        forged = await person.call("POST", "/v1/bag/open", body, **{"Idempotency-Key": "k", "X-Sign": "t=1,v1=00"})
        call = SimpleNamespace(session={"sign_key": person.sign_key}, method="POST", path="/v1/bag/open", body=body)
        keyless = await person.call("POST", "/v1/bag/open", body, **{"X-Sign": mapping.sign(call)})
        assert codes([unsigned, forged, keyless]) == [Code.BAD_SIGNATURE, Code.BAD_SIGNATURE, Code.BAD_PARAMS]
    run(scenario)


def test_a_repeated_idempotency_key_gets_the_first_answer_and_pays_nothing_new():
    async def scenario() -> None:
        backend = Backend()
        person = await backend.participant()
        await person.tasks()
        first = await person.payout("/v1/bag/open", {"inst": "jinniu"}, key="step-7")
        again = await person.payout("/v1/bag/open", {"inst": "jinniu"}, key="step-7")
        assert again.json() == first.json() and first.json()["code"] == 0
        assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
        other = await person.payout("/v1/bag/open", {"inst": "yinhe"}, key="step-7")
        assert other.json()["code"] == Code.KEY_REUSED
        books = await backend.ops("GET", "/ops/ledger")
        assert books["payouts"] == 1 and books["dup_paid"] == 0
    run(scenario)


def test_raced_copies_with_one_key_share_one_payout():
    async def scenario() -> None:
        backend = Backend()
        person = await backend.participant()
        await person.tasks()
        answers = await asyncio.gather(*[person.open_bag(key="burst") for _ in range(3)])
        assert codes(answers) == [0, 0, 0] and len({a["data"]["order_no"] for a in answers}) == 1
        assert (await backend.ops("GET", "/ops/ledger"))["payouts"] == 1
    run(scenario)


# --- the planted faults, each against the healthy backend ----------------------------------

async def _race_for_a_small_pool(faults: tuple[str, ...]) -> dict:
    """Ten people open a 1-yuan bag at once from a pool holding 2.50 yuan; the pool's books."""
    backend = Backend(faults, institutions=(FIXED_BAG,))
    people = [await backend.participant() for _ in range(10)]
    for person in people:
        await person.tasks(tasks=("watch_live",))
    await backend.ops("POST", "/ops/pool/limit", pool="jinniu", left_fen=250)
    answers = await asyncio.gather(*[p.open_bag() for p in people])
    books = (await backend.ops("GET", "/ops/ledger"))["pools"]["jinniu"]
    return {"paid": codes(answers).count(0), "empty": codes(answers).count(Code.POOL_EMPTY), **books}


def test_nonatomic_debit_overdraws_a_pool_under_concurrent_payouts():
    healthy = asyncio.run(_race_for_a_small_pool(()))
    faulty = asyncio.run(_race_for_a_small_pool(("nonatomic-debit",)))
    assert (healthy["paid"], healthy["empty"], healthy["left_fen"]) == (2, 8, 50)
    assert (faulty["paid"], faulty["left_fen"]) == (10, -750)


async def _burst_of_one_key(faults: tuple[str, ...]) -> tuple[list[dict], dict, dict]:
    """One tap sent three times at once with one key, then retried later with the same key."""
    backend = Backend(faults)
    person = await backend.participant()
    await person.tasks()
    burst = await asyncio.gather(*[person.open_bag(key="tap") for _ in range(3)])
    retry = await person.open_bag(key="tap")
    return burst, retry, await backend.ops("GET", "/ops/ledger")


def test_retry_paid_twice_pays_every_raced_copy_of_one_key():
    burst, retry, books = asyncio.run(_burst_of_one_key(()))
    assert codes(burst) == [0, 0, 0] and retry == burst[0]
    assert (books["payouts"], books["dup_paid"]) == (1, 0)
    burst, retry, books = asyncio.run(_burst_of_one_key(("retry-paid-twice",)))
    assert codes(burst) == [0, 0, 0] and len({a["data"]["order_no"] for a in burst}) == 3
    assert retry["code"] == Code.ALREADY_CLAIMED  # the key's first answer is not kept either
    assert (books["payouts"], books["dup_paid"]) == (3, 1)


def test_replay_pays_again_marks_a_new_payment_as_a_replay():
    async def scenario() -> None:
        backend = Backend(("replay-pays-again",))
        person = await backend.participant()
        await person.tasks()
        burst = await asyncio.gather(*[person.payout("/v1/bag/open", {"inst": "jinniu"}, key="tap")
                                       for _ in range(3)])
        answers = [r.json() for r in burst]
        assert codes(answers) == [0, 0, 0] and len({a["data"]["order_no"] for a in answers}) == 3
        assert sorted(r.headers.get("idempotent-replayed", "") for r in burst) == ["", "true", "true"]
        books = await backend.ops("GET", "/ops/ledger")
        assert (books["payouts"], books["dup_paid"]) == (3, 1)
    run(scenario)


async def _domains_issued_after_a_ban(faults: tuple[str, ...]) -> tuple[str, list[set[str]]]:
    """Ban the domain the last link was issued on; the domains issued 1 min, 10 min and 31 min later."""
    backend = Backend(faults)
    person = await backend.participant()
    banned = re.search(r"https://([^/]+)/", (await person.call("POST", "/v1/share/create"))["data"]["share_url"])[1]
    await backend.ops("POST", "/ops/domain/ban", domain=banned)
    issued = []
    for minute in (1, 10, 31):
        backend.t = 60.0 + minute * 60
        sharer = await backend.participant()
        urls = [(await sharer.call("POST", "/v1/share/create"))["data"]["share_url"] for _ in range(6)]
        issued.append({re.search(r"https://([^/]+)/", u)[1] for u in urls})
    return banned, issued


def test_slow_failover_keeps_issuing_a_banned_domain_for_half_an_hour():
    banned, issued = asyncio.run(_domains_issued_after_a_ban(()))
    assert all(banned not in domains for domains in issued)
    assert "bk1.lucky-go.example" in issued[0]
    banned, issued = asyncio.run(_domains_issued_after_a_ban(("slow-failover",)))
    assert [banned in domains for domains in issued] == [True, True, False]


def test_leaky_segments_lets_the_newer_virtual_segments_in():
    async def logins(faults: tuple[str, ...]) -> list[int]:
        backend = Backend(faults)
        async with backend.client() as http:
            return codes([await Participant(http).login(m) for m in ("16512345678", "17012345678", "17112345678")])
    assert asyncio.run(logins(())) == [Code.VIRTUAL_NUMBER] * 3
    assert asyncio.run(logins(("leaky-segments",))) == [Code.VIRTUAL_NUMBER, 0, 0]


# --- operations ----------------------------------------------------------------------------

def test_ops_routes_need_the_admin_key():
    async def scenario() -> None:
        backend = Backend()
        async with backend.client() as http:
            answer = (await http.get("/ops/ledger", headers={"X-Admin-Key": "wrong"})).json()
        assert answer == {"code": Code.ADMIN_KEY, "msg": answer["msg"], "data": None}
    run(scenario)


def test_the_clock_route_moves_campaign_time_and_the_phase():
    async def scenario() -> None:
        backend = Backend()
        preheat = await backend.ops("POST", "/ops/clock", t=-600)
        assert (preheat["t"], preheat["phase"], preheat["speed"]) == (-600.0, "preheat", 1.0)
        person = Participant(backend.client())
        assert (await person.login("13900000001"))["code"] == Code.NOT_STARTED
        fast = await backend.ops("POST", "/ops/clock", t=0, speed=60)
        backend.t += 10  # ten wall seconds at 60x: ten campaign minutes
        stats = await backend.ops("GET", "/ops/stats")
        assert fast["phase"] == "live" and stats["t"] == 600.0
    run(scenario)


def test_ban_and_link_pool_answer_issuing_and_banned_domains():
    async def scenario() -> None:
        backend = Backend()
        ban = await backend.ops("POST", "/ops/domain/ban", domain="fu1.luckybag-spring.example")
        links = await backend.ops("GET", "/ops/links")
        assert ban["banned"] == links["banned"] == ["fu1.luckybag-spring.example"]
        assert links["issuing"] == ["fu2.luckybag-spring.example", "fu3.luckybag-spring.example",
                                    "bk1.lucky-go.example"]
        async with backend.client() as http:
            unknown = (await http.post("/ops/domain/ban", headers=ADMIN, json={"domain": "x.example"})).json()
        assert unknown["code"] == Code.NOT_FOUND
    run(scenario)


def test_limit_pool_cuts_the_money_left_and_the_budget():
    async def scenario() -> None:
        backend = Backend()
        assert await backend.ops("POST", "/ops/pool/limit", pool="yinhe", left_fen=1500) == {
            "pool": "yinhe", "left_fen": 1500}
        pool = (await backend.ops("GET", "/ops/ledger"))["pools"]["yinhe"]
        assert pool == {"budget_fen": 1500, "paid_fen": 0, "left_fen": 1500}
    run(scenario)


# --- the command line ----------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--fault", "nope"], "--fault nope: no such fault; choose from nonatomic-debit, "),
    (["--speed", "0"], "--speed 0: must be > 0"),
    (["--port", "x"], "argument --port: invalid int value: 'x'"),
    (["--port", "70000"], "--port 70000: cannot listen on 127.0.0.1:70000"),
])
def test_bad_command_line_input_is_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lucky_bag: error: {message}") and err.count("\n") == 1


# --- the scenario against the backend's own settings ---------------------------------------

@pytest.fixture(scope="module")
def scenario_data() -> dict:
    return yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))


def test_the_scenario_describes_the_backends_campaign(scenario_data: dict):
    c = Campaign()
    campaign, budget, antifraud = scenario_data["campaign"], scenario_data["budget"], scenario_data["antifraud"]
    assert "grand_round" not in campaign and "grand_round_fen" not in budget
    assert [(i["id"], tuple(t["id"] for t in i["tasks"]), i["envelope"]["min_fen"], i["envelope"]["max_fen"])
            for i in campaign["institutions"]] == [(i.id, i.tasks, i.min_fen, i.max_fen) for i in c.institutions]
    assert {**budget["institutions_fen"], "invite": budget["invite_fen"]} == c.budgets_fen
    invite = campaign["invite"]
    assert (invite["friends_required"], invite["reward"]["min_fen"], invite["reward"]["max_fen"],
            invite["max_rewards_per_user"]) == (c.friends_required, c.invite_min_fen, c.invite_max_fen,
                                                c.invite_rewards_max)
    assert campaign["caps"] == {"shares_per_user": c.shares_per_user,
                                "task_completions_per_user": c.task_completions_per_user}
    phases = campaign["phases"]
    assert (phases["launch"] - phases["preheat_start"]).total_seconds() == c.preheat_s
    assert (phases["end"] - phases["launch"]).total_seconds() == c.live_s
    links = scenario_data["links"]
    assert (tuple(links["primary_domains"]), tuple(links["backup_domains"])) == (c.primary_domains, c.backup_domains)
    assert tuple(antifraud["virtual_segments"]) == c.virtual_segments
    assert set(antifraud["blacklist"]) == c.blacklist
    limits = antifraud["rate_limits"]
    assert RateLimit(**limits["per_user"]) == c.per_user and RateLimit(**limits["per_ip"]) == c.per_ip
    assert [ch["channel_id"] for ch in scenario_data["traffic"]["channels"]] == list(c.channels)


def test_the_mapping_names_the_backends_routes_and_refusal_codes(scenario_data: dict):
    target = scenario_data["target"]
    assert set(target["refused_when"]["in"]) == {int(code) for code in RULE_REFUSALS}
    paths = {route.path for route in create_app(Backend().game, "k").routes}
    for section in ("actions", "operations"):
        for name, request in target[section].items():
            assert request["path"] in paths or request["path"] == "{link.path}", (section, name)


def test_the_scenario_validates_with_no_grand_round_and_the_business_code_mapping():
    from rehearse.scenarios import load_scenario

    scenario = load_scenario(SCENARIO)
    assert scenario.campaign.grand_round is None and "grand" not in scenario.pool_budgets()
    assert scenario.target.payout_unit == "yuan" and scenario.target.functions
    assert scenario.name == "lucky_bag" and scenario.gates.peak.target_active_users == 800
