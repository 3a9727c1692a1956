"""Synthetic identities: deterministic, plausible, never colliding; fraud operators' shapes."""

from __future__ import annotations

import ipaddress
import random
import re
from collections import Counter

import pytest

from rehearse.personas.identity import CGNAT, IdentityFactory, persona_for
from rehearse.scenarios import load_scenario


def test_same_seed_same_identities_other_seed_others(scenario):
    def batch(seed):
        factory = IdentityFactory(scenario, seed=seed)
        return [factory.new(p, arrival_t=5.0) for p in ["normal", "sharer", "fraud_script"] * 20]

    assert batch(1) == batch(1)
    assert [u.phone for u in batch(1)] != [u.phone for u in batch(2)]
    assert [u.name for u in batch(1)] != [u.name for u in batch(2)]


def test_phones_are_distinct_mainland_mobiles_never_virtual_or_blacklisted(scenario):
    factory = IdentityFactory(scenario, seed=3)
    users = [factory.new("normal") for _ in range(3000)]
    phones = [u.phone for u in users]
    assert all(re.fullmatch(r"1\d{10}", p) for p in phones)
    assert all(p[:3] in {str(n) for n in (*range(130, 140), *range(150, 160), *range(180, 190))}
               for p in phones)
    assert len(set(phones)) == len(phones)
    assert not any(scenario.antifraud.is_virtual(p) for p in phones)
    assert not set(phones) & set(scenario.antifraud.blacklist)


def test_normal_users_get_distinct_cgnat_addresses_and_numbered_keys(scenario):
    factory = IdentityFactory(scenario, seed=4)
    users = [factory.new("normal") for _ in range(2000)]
    ips = [u.ip for u in users]
    assert len(set(ips)) == len(ips)
    assert all(ipaddress.IPv4Address(ip) in CGNAT for ip in ips)
    assert [u.user_key for u in users[:3]] == ["normal-000000", "normal-000001", "normal-000002"]
    assert all(re.fullmatch(r"[0-9a-f]{16}", u.device_id) for u in users)
    assert all(u.operator is None and u.invite_code is None and u.link is None for u in users)


def test_channels_follow_the_traffic_shares(scenario):
    factory = IdentityFactory(scenario, seed=5)
    counts = Counter(factory.new("normal").channel for _ in range(5000))
    for channel in scenario.traffic.channels:
        assert counts[channel.channel_id] / 5000 == pytest.approx(channel.share, abs=0.025)


def test_fraud_operators_share_a_small_ip_and_device_set_in_one_slash_24(scenario):
    settings = scenario.personas.fraud_script
    factory = IdentityFactory(scenario, seed=6)
    accounts = [factory.new("fraud_script") for _ in range(1000)]
    by_operator: dict[str, list] = {}
    for account in accounts:
        by_operator.setdefault(account.operator.operator_id, []).append(account)
    assert len(by_operator) == 1000 // settings.accounts_per_operator
    nets = set()
    for members in by_operator.values():
        operator = members[0].operator
        assert len(members) == operator.accounts_made == settings.accounts_per_operator
        assert len(operator.ips) == len(set(operator.ips)) == settings.ips_per_operator
        assert {m.ip for m in members} <= set(operator.ips)
        assert {m.device_id for m in members} <= set(operator.devices)
        assert len(operator.devices) == settings.devices_per_operator
        net = {ipaddress.IPv4Network(f"{ip}/24", strict=False) for ip in operator.ips}
        assert len(net) == 1
        nets |= net
    assert len(nets) == len(by_operator)  # operators do not share a /24


def test_fraud_accounts_use_virtual_segments_at_the_configured_share():
    scenario = load_scenario(overrides=["personas.fraud_script.virtual_number_share=0.4",
                                        "personas.fraud_script.blacklisted_share=0"])
    factory = IdentityFactory(scenario, seed=7)
    phones = [factory.new("fraud_script").phone for _ in range(1000)]
    virtual = [p for p in phones if scenario.antifraud.is_virtual(p)]
    assert len(virtual) / 1000 == pytest.approx(0.4, abs=0.05)
    assert {p[:3] for p in virtual} <= set(scenario.antifraud.virtual_segments)
    assert len(set(phones)) == 1000


def test_some_fraud_accounts_are_already_on_the_blacklist():
    scenario = load_scenario(overrides=["personas.fraud_script.virtual_number_share=0",
                                        "personas.fraud_script.blacklisted_share=0.25"])
    factory = IdentityFactory(scenario, seed=7)
    phones = [factory.new("fraud_script").phone for _ in range(1000)]
    listed = [p for p in phones if p in scenario.antifraud.blacklist]
    assert len(listed) / 1000 == pytest.approx(0.25, abs=0.05)
    normal = [factory.new("normal").phone for _ in range(200)]
    assert not set(normal) & set(scenario.antifraud.blacklist)


def test_invitee_carries_the_link_code_and_channel(scenario):
    factory = IdentityFactory(scenario, seed=8)
    friend = factory.invitee("https://hb1.yearend-wealth.example/s/abc", "K7Q2", 1800.0,
                             channel="video_a")
    assert (friend.persona, friend.user_key, friend.link, friend.invite_code, friend.channel,
            friend.arrival_t) == ("invitee", "invitee-000000",
                                  "https://hb1.yearend-wealth.example/s/abc", "K7Q2", "video_a",
                                  1800.0)
    drawn = factory.invitee("https://x.example/s/1", None, 0.0)
    assert drawn.channel in scenario.traffic.channel_ids()


def test_persona_for_follows_the_mix_over_10000_draws(scenario):
    rng = random.Random(9)
    counts = Counter(persona_for(scenario.personas.mix, rng) for _ in range(10_000))
    for name, share in scenario.personas.mix.weights().items():
        assert counts[name] / 10_000 == pytest.approx(share, abs=0.015)
    assert IdentityFactory(scenario, 1).persona_for(random.Random(2)) == \
        IdentityFactory(scenario, 3).persona_for(random.Random(2))


def test_lanes_of_one_seed_never_share_a_phone_an_address_or_a_key(scenario):
    """The main job's phases play participants of their own against one target."""
    lanes = [IdentityFactory(scenario, 7, lane=n, lanes=2) for n in range(2)]
    people = [[f.new(f.persona_for()) for _ in range(5000)] for f in lanes]
    mine = [{(p.phone, p.user_key) for p in group if "+blacklisted" not in p.user_key} for group in people]
    phones = [{phone for phone, _ in found} for found in mine]
    keys = [{key for _, key in found} for found in mine]
    addresses = [{p.ip for p in group if p.persona != "fraud_script"} for group in people]
    assert not phones[0] & phones[1] and not keys[0] & keys[1] and not addresses[0] & addresses[1]
    assert all(p.user_key.startswith("lane1/") for p in people[1])
    again = IdentityFactory(scenario, 7, lane=1, lanes=2)
    assert [again.new(again.persona_for()) for _ in range(50)] == people[1][:50]  # a lane is seeded too
    with pytest.raises(ValueError, match="lane 2 of 2"):
        IdentityFactory(scenario, 7, lane=2, lanes=2)
