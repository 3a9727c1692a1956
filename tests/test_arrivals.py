"""Arrivals for the whole campaign: calibrated to the targets, deterministic, fission that fades."""

from __future__ import annotations

import numpy as np
import pytest

from rehearse.scenarios import load_scenario
from rehearse.simulator.arrivals import (
    FRAUD, INVITED, INVITEE, ORGANIC, PREHEAT_VISIT, RETURNED, SHARER, generate,
)

SMALL = ("traffic.participants_first_24h=4000", "traffic.participants_total=9000",
         "traffic.preheat_visitors=600")


@pytest.fixture(scope="module")
def small():
    return load_scenario(overrides=SMALL)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_participants_meet_the_targets_on_a_scaled_down_scenario(small, seed):
    people = generate(small, seed)
    assert people.count_live(86400) == pytest.approx(4000, rel=0.05)
    assert people.count_live() == pytest.approx(9000, rel=0.05)


def test_participants_meet_the_targets_at_full_scale(scenario):
    people = generate(scenario, 7)
    assert people.count_live(86400) == pytest.approx(400_000, rel=0.02)
    assert people.count_live() == pytest.approx(900_000, rel=0.02)


def test_same_seed_same_people_and_another_seed_others(small):
    a, b, c = generate(small, 5), generate(small, 5), generate(small, 6)
    for name in ("t", "persona", "channel", "origin", "person", "inviter", "shares"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.t[:100], c.t[:100])


def test_invitees_come_after_their_sharer_through_its_channel(small):
    people = generate(small, 1)
    invited = np.flatnonzero(people.origin == INVITED)
    assert len(invited) > 0 and (people.persona[invited] == INVITEE).all()
    by_person = {p: i for i, p in enumerate(people.person) if people.origin[i] == ORGANIC}
    inviters = np.array([by_person[p] for p in people.inviter[invited]])
    assert (people.persona[inviters] == SHARER).all()
    assert (people.t[invited] > people.t[inviters]).all()
    assert (people.channel[invited] == people.channel[inviters]).all()


def test_interest_fades_so_late_sharers_bring_fewer_friends(small):
    people = generate(small, 1)
    sharers = np.flatnonzero((people.persona == SHARER) & (people.origin == ORGANIC))
    brought = np.bincount(np.searchsorted(people.person[sharers], people.inviter[people.origin == INVITED]),
                          minlength=len(sharers))
    early = brought[people.t[sharers] < 86400].mean()
    late = brought[people.t[sharers] > 5 * 86400].mean()
    assert late < 0.5 * early


def test_a_smaller_audience_saturates_and_brings_fewer_invitees():
    def invited_share(audience: int | None) -> float:
        extra = (f"personas.sharer.audience={audience}",) if audience else ()
        people = generate(load_scenario(overrides=(*SMALL, *extra)), 1)
        assert people.count_live() == pytest.approx(9000, rel=0.05)  # organic makes up for it
        return (people.origin == INVITED).sum() / people.count_live()

    wide, filled, tight = invited_share(None), invited_share(9000), invited_share(3000)
    assert tight < filled < 0.9 * wide


def test_preheat_visitors_look_before_launch_and_some_return(small):
    people = generate(small, 1)
    visits = people.origin == PREHEAT_VISIT
    returns = people.origin == RETURNED
    preheat_s = small.campaign.phases.preheat_s
    assert ((people.t[visits] < 0) & (people.t[visits] >= -preheat_s)).all()
    assert (people.t[returns] >= 0).all()
    assert set(people.person[returns]) <= set(people.person[visits])
    assert returns.sum() == pytest.approx(0.4 * visits.sum(), rel=0.15)


def test_raising_the_fraud_share_brings_more_fraud():
    base = generate(load_scenario(overrides=SMALL), 1)
    more = generate(load_scenario(overrides=(*SMALL, "personas.mix.fraud_script=0.28",
                                             "personas.mix.normal=0.42")), 1)
    assert (more.persona == FRAUD).sum() > 3 * (base.persona == FRAUD).sum()
