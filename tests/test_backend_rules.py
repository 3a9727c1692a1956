"""Every rule of the reference campaign, over real HTTP against a backend on 127.0.0.1."""

from __future__ import annotations

import pyotp

INSTITUTIONS = ["anhe", "beichen", "chunhui", "dingsheng", "everbright", "fuxing", "guotai", "hengyuan"]


def test_preheat_shows_page_and_rules_but_refuses_taking_part(start_backend):
    with start_backend(t=-2 * 86400) as b:
        page = b.http.get("/api/campaign", params={"channel_id": "video_a"})
        assert page.status_code == 200
        assert page.json()["phase"] == "preheat"
        assert page.json()["starts_in_s"] == 172800.0
        assert b.http.get("/api/rules").status_code == 200
        refused = b.login("13912345678")
        assert (refused.status_code, refused.json()["error"]) == (403, "not_started")
        b.clock.set(0.0)  # launch
        assert b.login("13912345678").status_code == 200


def test_preheat_leak_fault_accepts_participation_before_launch(start_backend):
    with start_backend(faults=("preheat-leak",), t=-3600) as b:
        who = b.user("13912345678")
        b.unlock(who, "anhe")
        assert b.post("/api/institutions/anhe/envelope", who).status_code == 200


def test_campaign_refuses_after_end(start_backend, scenario):
    with start_backend(t=scenario.campaign.phases.live_s + 1) as b:
        assert b.http.get("/api/campaign").json()["phase"] == "ended"
        assert b.login("13912345678").json()["error"] == "ended"


def test_login_refuses_virtual_segments_blacklist_and_bad_numbers(start_backend):
    with start_backend() as b:
        assert b.login("17012345678").json()["error"] == "virtual_number"
        assert b.login("16212345678").status_code == 403
        assert b.login("13800000001").json()["error"] == "blacklisted"  # from the scenario
        assert b.login("12345").json()["error"] == "bad_phone"
        b.http.post("/ops/blacklist", json={"phone": "13912340000"}, headers=b.ops)
        assert b.login("13912340000").json()["error"] == "blacklisted"  # added by operations
        ok = b.login("13912345678").json()
        assert ok["new_user"] is True and ok["token"]
        again = b.login("13912345678").json()
        assert again["new_user"] is False and again["user_id"] == ok["user_id"]


def test_no_antifraud_fault_lets_virtual_and_blacklisted_numbers_in(start_backend):
    with start_backend(faults=("no-antifraud",)) as b:
        assert b.login("17012345678").status_code == 200
        assert b.login("13800000001").status_code == 200


def test_payouts_need_the_signature_the_page_hands_out(start_backend):
    with start_backend() as b:
        who = b.user("13912345678")
        b.unlock(who, "anhe")
        unsigned = {k: v for k, v in who.items() if k != "X-Sign"}
        refused = b.post("/api/institutions/anhe/envelope", unsigned)
        assert (refused.status_code, refused.json()["error"]) == (403, "unsigned_request")
        other_device = {**who, "X-Device-Id": "someone-else"}
        assert b.post("/api/institutions/anhe/envelope", other_device).status_code == 403
        assert b.post("/api/grand-draw", unsigned).json()["error"] == "unsigned_request"
        assert b.post("/api/institutions/anhe/envelope", who).status_code == 200


def test_unsigned_payouts_pass_without_antifraud_or_when_the_scenario_signs_nothing(start_backend):
    for overrides, faults in ((("antifraud.signed_payouts=false",), ()), ((), ("no-antifraud",))):
        with start_backend(*overrides, faults=faults) as b:
            who = b.user("13912345678")
            b.unlock(who, "anhe")
            unsigned = {k: v for k, v in who.items() if k not in ("X-Sign", "X-Device-Id")}
            assert b.post("/api/institutions/anhe/envelope", unsigned).status_code == 200


def test_requests_without_a_valid_session_are_refused(start_backend):
    with start_backend() as b:
        assert b.http.post("/api/institutions/anhe/envelope").json()["error"] == "login_required"
        bad = b.http.post("/api/institutions/anhe/envelope", headers={"Authorization": "Bearer nope"})
        assert (bad.status_code, bad.json()["error"]) == (401, "bad_token")


def test_envelope_opens_only_after_all_its_tasks_and_pays_once(start_backend, scenario):
    with start_backend() as b:
        who = b.user("13912345678")
        locked = b.post("/api/institutions/anhe/envelope", who)
        assert (locked.status_code, locked.json()["missing"]) == (423, ["follow_account", "watch_live"])
        b.post("/api/institutions/anhe/tasks/watch_live", who)
        assert b.post("/api/institutions/anhe/envelope", who).status_code == 423
        b.post("/api/institutions/anhe/tasks/follow_account", who)
        paid = b.post("/api/institutions/anhe/envelope", who).json()
        envelope = scenario.campaign.institution("anhe").envelope
        assert envelope.min_fen <= paid["amount_fen"] <= envelope.max_fen
        again = b.post("/api/institutions/anhe/envelope", who)
        assert (again.status_code, again.json()["error"]) == (409, "already_claimed")
        ledger = b.ledger()
        assert ledger["pools"]["anhe"]["paid_fen"] == paid["amount_fen"]
        budget = scenario.budget.institutions_fen["anhe"]
        assert ledger["pools"]["anhe"]["left_fen"] == budget - paid["amount_fen"]
        assert ledger["payouts"] == 1 and ledger["paid_twice"] == 0


def test_unknown_institution_and_task_are_not_found(start_backend):
    with start_backend() as b:
        who = b.user("13912345678")
        assert b.post("/api/institutions/nope/envelope", who).status_code == 404
        assert b.post("/api/institutions/anhe/tasks/nope", who).status_code == 404


def test_grand_draw_only_after_all_eight_envelopes_and_once(start_backend, scenario):
    with start_backend() as b:
        who = b.user("13912345678")
        for institution in INSTITUTIONS[:7]:
            b.unlock(who, institution)
            assert b.post(f"/api/institutions/{institution}/envelope", who).status_code == 200
        locked = b.post("/api/grand-draw", who)
        assert (locked.status_code, locked.json()["envelopes_opened"]) == (423, 7)
        b.unlock(who, "hengyuan")
        b.post("/api/institutions/hengyuan/envelope", who)
        draw = b.post("/api/grand-draw", who).json()
        prizes = {p.name: p.amount_fen for p in scenario.campaign.grand_round.prizes}
        assert prizes[draw["prize"]] == draw["amount_fen"]
        assert b.post("/api/grand-draw", who).status_code == 409
        assert b.ledger()["pools"]["grand"]["paid_fen"] == draw["amount_fen"]


def test_limited_prize_falls_back_when_its_count_runs_out(start_backend):
    only_top = ["campaign.grand_round.prizes.0.probability=1.0", "campaign.grand_round.prizes.0.count=1",
                *(f"campaign.grand_round.prizes.{i}.probability=0" for i in (1, 2, 3))]
    with start_backend(*only_top) as b:
        won = []
        for n in range(2):
            who = b.user(f"1391234567{n}")
            for institution in INSTITUTIONS:
                b.unlock(who, institution)
                b.post(f"/api/institutions/{institution}/envelope", who)
            won.append(b.post("/api/grand-draw", who).json()["prize"])
        assert won == ["top prize", "thank-you envelope"]


def test_third_new_friend_earns_the_inviter_one_extra_envelope(start_backend):
    with start_backend() as b:
        inviter = b.login("13900000000").json()
        headers = {"Authorization": f"Bearer {inviter['token']}", "X-Forwarded-For": "10.7.0.1",
                   **b.signed("inviter-phone")}
        code = inviter["invite_code"]
        assert b.login("13911111111", invite_code=code).json()["invite_counted"] is True
        # the same friend again, and an existing user arriving by the link, do not count
        assert b.login("13911111111", invite_code=code).json()["invite_counted"] is False
        assert b.login("13900000000", invite_code=code).json()["invite_counted"] is False
        assert b.login("13922222222", invite_code=code).json()["invite_counted"] is True
        locked = b.post("/api/invite/envelope", headers)
        assert (locked.status_code, locked.json()["invites_counted"]) == (423, 2)
        assert b.login("13933333333", invite_code=code).json()["invite_counted"] is True
        reward = b.post("/api/invite/envelope", headers)
        assert reward.status_code == 200 and 100 <= reward.json()["amount_fen"] <= 500
        b.login("13944444444", invite_code=code)
        assert b.post("/api/invite/envelope", headers).status_code == 409  # max one reward
        assert b.http.get("/api/me", headers=headers).json()["invites_counted"] == 4


def test_share_links_spread_over_domains_and_fail_over_after_a_ban(start_backend, scenario):
    primary = scenario.links.primary_domains
    with start_backend() as b:
        links = [b.post("/api/share", b.user(f"1390000{n:04d}")).json() for n in range(8)]
        assert {link["domain"] for link in links} == set(primary)
        visit = b.http.get(f"/s/{links[0]['code']}", headers={"Host": links[0]["domain"]}).json()
        assert visit["invite_code"] == links[0]["invite_code"]
        banned = b.http.post("/ops/domains/ban", json={"domain": primary[0]}, headers=b.ops).json()
        assert banned["replacement"] == scenario.links.backup_domains[0]
        after = [b.post("/api/share", b.user(f"1391000{n:04d}")).json()["domain"] for n in range(8)]
        assert primary[0] not in after
        assert scenario.links.backup_domains[0] in after
        pool = b.http.get("/ops/links", headers=b.ops).json()
        assert pool["banned"] == [primary[0]]
        assert len(pool["active"]) == len(primary)
        assert pool["domains"][links[0]["domain"]]["visits"] == 1
        events = [e["kind"] for e in b.http.get("/ops/events", headers=b.ops).json()["events"]]
        assert events == ["ban", "failover"]


def test_pool_runs_dry_when_every_backup_is_used(start_backend, scenario):
    with start_backend("links.backup_domains=[]", "links.primary_domains=[a.one.example]", "drills={}") as b:
        b.http.post("/ops/domains/ban", json={"domain": "a.one.example"}, headers=b.ops)
        refused = b.post("/api/share", b.user("13900000001"))
        assert (refused.status_code, refused.json()["error"]) == (503, "no_domain")
        kinds = [e["kind"] for e in b.http.get("/ops/events", headers=b.ops).json()["events"]]
        assert kinds == ["ban", "pool_exhausted"]


def test_no_failover_fault_keeps_issuing_the_banned_domain(start_backend, scenario):
    banned = scenario.links.primary_domains[0]
    with start_backend(faults=("no-failover",)) as b:
        b.http.post("/ops/domains/ban", json={"domain": banned}, headers=b.ops)
        after = [b.post("/api/share", b.user(f"1391000{n:04d}")).json()["domain"] for n in range(8)]
        assert banned in after
        assert not set(scenario.links.backup_domains) & set(after)


def test_share_cap_per_user(start_backend):
    with start_backend("campaign.caps.shares_per_user=2") as b:
        who = b.user("13900000001")
        assert [b.post("/api/share", who).status_code for _ in range(3)] == [200, 200, 409]


def test_top_up_needs_a_fresh_one_time_code_and_is_logged(start_backend, scenario):
    grand = scenario.budget.grand_round_fen
    with start_backend() as b:
        body = {"pool": "grand", "amount_fen": 5000, "operator": "ops-li"}
        assert b.http.post("/ops/topup", json=body).status_code == 401  # no ops token
        assert b.http.post("/ops/topup", json={**body, "otp": "000000"}, headers=b.ops).status_code == 401
        code = pyotp.TOTP(b.running.backend.otp_secret).now()
        done = b.http.post("/ops/topup", json={**body, "otp": code}, headers=b.ops)
        assert done.json()["left_fen"] == grand + 5000
        reused = b.http.post("/ops/topup", json={**body, "otp": code}, headers=b.ops)
        assert reused.json()["error"] == "code_reused"
        ledger = b.ledger()
        assert ledger["topups"] == [{"pool": "grand", "amount_fen": 5000, "t": 60.0, "operator": "ops-li"}]
        assert ledger["pools"]["grand"]["budget_fen"] == grand + 5000


FIXED_500 = ["campaign.institutions.{}.envelope={{kind: uniform, min_fen: 500, max_fen: 500}}".format(i)
             for i in range(8)]
SMALL_BUDGET = [f"budget.institutions_fen.{i}=10000" for i in INSTITUTIONS] + [
    "budget.grand_round_fen=10000", "budget.invite_fen=10000",  # 100,000 fen: plan floor 1,000
    "budget.fund_loss.warning_ratio=1.5", "budget.fund_loss.stop_ratio=2.5"]


def _open_all(b, who) -> list[int]:
    statuses = []
    for institution in INSTITUTIONS:
        b.unlock(who, institution)
        statuses.append(b.post(f"/api/institutions/{institution}/envelope", who).status_code)
    return statuses


def test_fund_loss_monitor_pauses_payouts_until_an_operator_confirms(start_backend):
    # warning at 1.5 x 1,000 fen, stop at 2.5 x 1,000: the 3rd payout warns, the 5th stops
    with start_backend(*FIXED_500, *SMALL_BUDGET, "budget.fund_loss.throttle_pass_share=1.0", t=0) as b:
        who = b.user("13900000001")
        assert _open_all(b, who) == [200, 200, 200, 200, 200, 423, 423, 423]
        kinds = [e["kind"] for e in b.http.get("/ops/events", headers=b.ops).json()["events"]]
        assert kinds == ["alarm", "throttle", "alarm", "pause"]
        assert b.ledger()["paused"] is True
        refused = b.http.post("/ops/payouts/resume", json={}, headers=b.ops)
        assert refused.status_code == 400
        b.http.post("/ops/payouts/resume", json={"confirm": True, "operator": "ops-li"}, headers=b.ops)
        assert b.post("/api/institutions/fuxing/envelope", who).status_code == 200


def test_fund_loss_warning_throttles_payouts(start_backend):
    with start_backend(*FIXED_500, *SMALL_BUDGET, "budget.fund_loss.throttle_pass_share=0", t=0) as b:
        who = b.user("13900000001")
        statuses = _open_all(b, who)
        assert statuses[:4] == [200, 200, 200, 429]  # 1,500 fen paid: warning, nothing passes
        assert b.ledger()["monitor"]["level_name"] == "warning"


def test_rate_limits_per_client_ip_and_per_user(start_backend):
    tight = ["antifraud.rate_limits.per_ip={per_second: 0.001, burst: 5}",
             "antifraud.rate_limits.per_user={per_second: 0.001, burst: 3}"]
    with start_backend(*tight) as b:
        same_ip = {"X-Forwarded-For": "10.1.1.1"}
        statuses = [b.http.get("/api/rules", headers=same_ip).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        assert b.http.get("/api/rules", headers={"X-Forwarded-For": "10.1.1.2"}).status_code == 200
        token = b.login("13900000001").json()["token"]
        per_user = [b.http.get("/api/me", headers={"Authorization": f"Bearer {token}",
                                                   "X-Forwarded-For": f"10.2.0.{n}"}).status_code
                    for n in range(4)]
        assert per_user == [200, 200, 200, 429]


def test_no_antifraud_fault_drops_rate_limits(start_backend):
    with start_backend("antifraud.rate_limits.per_ip={per_second: 0.001, burst: 5}",
                       faults=("no-antifraud",)) as b:
        statuses = {b.http.get("/api/rules", headers={"X-Forwarded-For": "10.1.1.1"}).status_code
                    for _ in range(10)}
        assert statuses == {200}


def test_channel_is_recorded_on_every_entry_and_the_funnel_is_per_channel(start_backend):
    with start_backend() as b:
        b.http.get("/api/campaign", params={"channel_id": "video_a"})
        b.http.get("/api/campaign", params={"channel_id": "video_a"})
        who = b.user("13900000001", channel_id="video_a")
        b.unlock(who, "anhe")
        b.post("/api/institutions/anhe/envelope", who)
        b.post("/api/follow", who)
        link = b.post("/api/share", who, json={"channel_id": "video_b"}).json()
        b.http.get(f"/s/{link['code']}", headers={"Host": link["domain"]})
        funnel = b.http.get("/ops/stats", headers=b.ops).json()["funnel"]
        video_a = funnel["video_a"]
        assert {k: video_a[k] for k in ("page_view", "login", "new_user", "first_task",
                                        "first_envelope", "follow", "share")} == {
            "page_view": 2, "login": 1, "new_user": 1, "first_task": 1, "first_envelope": 1,
            "follow": 1, "share": 1}
        assert funnel["video_b"]["link_visit"] == 1


def test_operations_need_the_ops_token(start_backend):
    with start_backend() as b:
        assert b.http.get("/ops/ledger").status_code == 401
        assert b.http.get("/ops/ledger", headers={"X-Ops-Token": "wrong"}).status_code == 401


def test_operations_can_set_the_campaign_clock(start_backend):
    with start_backend(t=0) as b:
        moved = b.http.post("/ops/clock", json={"t": -3600}, headers=b.ops).json()
        assert moved["phase"] == "preheat"
        assert b.login("13900000001").json()["error"] == "not_started"


def test_state_survives_a_restart(tmp_path, scenario):
    from rehearse.reference_backend.app import Backend
    from rehearse.reference_backend.clock import ManualClock
    from rehearse.reference_backend.server import running_backend
    import httpx

    db = tmp_path / "campaign.sqlite3"
    with running_backend(Backend(scenario, db, clock=ManualClock(10))) as first:
        token = httpx.post(f"{first.url}/api/login", json={"phone": "13900000001"}).json()["token"]
        ops_token = first.backend.ops_token
    with running_backend(Backend(scenario, db, clock=ManualClock(20))) as second:
        assert second.backend.ops_token == ops_token
        me = httpx.get(f"{second.url}/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200


def test_an_invite_code_taken_already_is_drawn_again(tmp_path, scenario, monkeypatch):
    from rehearse.reference_backend.app import Backend
    from rehearse.reference_backend.clock import ManualClock

    backend = Backend(scenario, tmp_path / "campaign.sqlite3", clock=ManualClock(60.0), seed=7)
    codes = iter(["deadbeef", "deadbeef", "cafef00d"])  # the second user draws the first one's code
    monkeypatch.setattr("rehearse.reference_backend.store.secrets.token_hex", lambda _: next(codes))
    first = backend.service.login("13912345678", "video_a", None, None)
    second = backend.service.login("13912345679", "video_a", None, None)
    assert (first["invite_code"], second["invite_code"]) == ("deadbeef", "cafef00d")
    assert second["new_user"] is True
