"""Who arrives when, for the whole campaign, generated with numpy (no per-user Python).

- Preheat visitors arrive over the preheat by the daily cycle; a share returns after launch.
- Organic participants arrive by the arrival curve, per minute (Poisson), with a channel by
  the channels' shares and a persona by the mix over normal, sharer and fraud_script (the
  mix's preheat_browser share is played by the preheat visitors).
- Sharers bring invitees (one generation: invitees behave as normal users and do not share):
  Poisson(shares x invitees per share x interest x room left in the audience), each after a
  lognormal delay. Interest halves every `interest_half_life`; the audience fills as the
  campaign's expected participants arrive.
- Calibration: the organic curve is solved so that organic + invitees + returning visitors
  meet the scenario's participant targets (first 24 h and total): each round scales the
  organic targets by how far the expected sum is from the scenario's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rehearse.scenarios import Scenario
from rehearse.scenarios.curve import DAY_S, STEP_S, ArrivalCurve

PERSONAS = ("normal", "sharer", "fraud_script", "preheat_browser", "invitee")
NORMAL, SHARER, FRAUD, PREHEAT, INVITEE = range(len(PERSONAS))
ORIGINS = ("organic", "invited", "preheat", "returned")
ORGANIC, INVITED, PREHEAT_VISIT, RETURNED = range(len(ORIGINS))
CALIBRATION_ROUNDS = 4


@dataclass(frozen=True)
class Participants:
    """Everyone who arrives, one entry per person, sorted by arrival time t (campaign seconds).

    A preheat visitor who returns after launch appears twice: once as a preheat visit (t < 0)
    and once as a returned participant (t >= 0), with the same `person` number."""

    t: np.ndarray  # float64 arrival time
    persona: np.ndarray  # int8 index into PERSONAS
    channel: np.ndarray  # int16 index into the scenario's channels
    origin: np.ndarray  # int8 index into ORIGINS
    person: np.ndarray  # int64 person number (shared by a preheat visit and its return)
    inviter: np.ndarray  # int64 person number of the sharer who brought an invitee, else -1
    shares: np.ndarray  # int16 share links a sharer makes (0 for everyone else)

    def __len__(self) -> int:
        return len(self.t)

    def live(self) -> np.ndarray:
        """Mask of live participants (everyone arriving at or after launch)."""
        return self.t >= 0

    def count_live(self, until: float | None = None) -> int:
        mask = self.t >= 0
        if until is not None:
            mask &= self.t < until
        return int(mask.sum())


def _lognormal(rng: np.random.Generator, median: float, sigma: float, size: int) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(size)) if sigma > 0 else np.full(size, median)


def _expected_invited(scenario: Scenario, organic: ArrivalCurve, audience: float) -> ArrivalCurve:
    """Expected invitees per minute brought by the organic sharers of this curve."""
    sharer = scenario.personas.sharer
    share_of_sharers = _live_mix(scenario)[SHARER]
    t = organic.grid_t
    widths = np.diff(np.append(t, scenario.campaign.phases.live_s))
    interest = np.power(0.5, t / sharer.interest_half_life)
    room = np.clip(1.0 - organic.cumulative / audience, 0.0, 1.0)
    per_minute = organic.rate * widths * share_of_sharers * _mean_shares(scenario) \
        * sharer.invitees_per_share_mean * interest * room
    # spread each minute's invitations by the delay distribution (median, sigma) over later minutes
    delays = np.exp(np.log(sharer.invitee_delay.median) + sharer.invitee_delay.sigma
                    * np.linspace(-3, 3, 61))
    weights = np.exp(-0.5 * np.linspace(-3, 3, 61) ** 2)
    weights /= weights.sum()
    arrived = np.zeros_like(per_minute)
    for delay, weight in zip(delays, weights):
        shift = int(delay // STEP_S)
        if shift < len(arrived):
            arrived[shift:] += weight * per_minute[: len(arrived) - shift]
    rate = arrived / widths
    return ArrivalCurve(grid_t=t, rate=rate, cumulative=np.cumsum(arrived), total=float(arrived.sum()))


def _mean_shares(scenario: Scenario) -> float:
    """E[max(1, min(Poisson(mean), cap))], the shares one sharer makes (as the persona does)."""
    mean = scenario.personas.sharer.shares_mean
    cap = max(1, scenario.campaign.caps.shares_per_user)
    k = np.arange(0, cap + 1)
    log_pmf = k * np.log(max(mean, 1e-12)) - mean - np.cumsum(np.log(np.maximum(k, 1)))
    pmf = np.exp(log_pmf)
    pmf[-1] += max(0.0, 1.0 - pmf.sum())  # the tail beyond the cap
    return float((np.maximum(1, k) * pmf).sum())


def _live_mix(scenario: Scenario) -> np.ndarray:
    """Shares of normal, sharer and fraud_script among organic live arrivals (renormalised)."""
    mix = scenario.personas.mix
    shares = np.array([mix.normal, mix.sharer, mix.fraud_script], dtype=float)
    total = shares.sum()
    return shares / total if total > 0 else np.array([1.0, 0.0, 0.0])


def _returning(scenario: Scenario) -> tuple[float, float]:
    """Expected returning preheat visitors: in the first 24 h, and in all."""
    browser = scenario.personas.preheat_browser
    expected = scenario.traffic.preheat_visitors * browser.return_at_launch
    within_day = 1.0 if browser.return_delay.median < DAY_S / 10 else 0.5
    return expected * within_day, expected


def calibrated_curve(scenario: Scenario) -> tuple[ArrivalCurve, ArrivalCurve, float]:
    """(organic curve, expected invited curve, audience) meeting the participant targets."""
    traffic, phases = scenario.traffic, scenario.campaign.phases
    audience = float(scenario.personas.sharer.audience or 10 * traffic.participants_total)
    back_24h, back_total = _returning(scenario)
    first, total = traffic.participants_first_24h - back_24h, traffic.participants_total - back_total
    organic_first, organic_total = first, total
    organic = ArrivalCurve.build(traffic, phases, first_24h=organic_first, total=organic_total)
    for _ in range(CALIBRATION_ROUNDS):
        # invitations grow nearly in proportion to organic arrivals: scale each organic target
        # by how far organic + invited is from the target (converges in a few rounds)
        invited = _expected_invited(scenario, organic, audience)
        organic_first *= first / (organic.arrived_by(DAY_S) + invited.arrived_by(DAY_S))
        organic_total *= total / (organic.total + invited.total)
        organic = ArrivalCurve.build(traffic, phases, first_24h=max(1.0, organic_first),
                                     total=max(2.0, organic_total, organic_first))
    return organic, _expected_invited(scenario, organic, audience), audience


def generate(scenario: Scenario, seed: int) -> Participants:
    """Everyone who arrives in the campaign, for one seed (same seed, same participants)."""
    rng = np.random.default_rng(seed)
    organic_curve, _, audience = calibrated_curve(scenario)
    channel_shares = np.array([c.share for c in scenario.traffic.channels])
    channel_shares /= channel_shares.sum()
    parts = [_organic(scenario, rng, organic_curve, channel_shares),
             _preheat(scenario, rng, channel_shares)]
    organic = parts[0]
    parts.append(_invited(scenario, rng, organic, organic_curve, audience))
    t = np.concatenate([p["t"] for p in parts])
    order = np.argsort(t, kind="stable")

    def column(name: str, dtype: type) -> np.ndarray:
        return np.concatenate([p[name] for p in parts]).astype(dtype)[order]

    return Participants(t=t[order], persona=column("persona", np.int8), channel=column("channel", np.int16),
                        origin=column("origin", np.int8), person=column("person", np.int64),
                        inviter=column("inviter", np.int64), shares=column("shares", np.int16))


def _organic(scenario: Scenario, rng: np.random.Generator, curve: ArrivalCurve,
             channel_shares: np.ndarray) -> dict[str, np.ndarray]:
    widths = np.diff(np.append(curve.grid_t, scenario.campaign.phases.live_s))
    counts = rng.poisson(curve.rate * widths)
    n = int(counts.sum())
    start = np.repeat(curve.grid_t, counts)
    t = start + rng.random(n) * np.repeat(widths, counts)
    persona = rng.choice(3, size=n, p=_live_mix(scenario))  # normal, sharer, fraud_script
    shares = np.zeros(n, dtype=np.int16)
    is_sharer = persona == SHARER
    cap = max(1, scenario.campaign.caps.shares_per_user)
    shares[is_sharer] = np.clip(rng.poisson(scenario.personas.sharer.shares_mean, int(is_sharer.sum())), 1, cap)
    return {"t": t, "persona": persona, "channel": rng.choice(len(channel_shares), size=n, p=channel_shares),
            "origin": np.full(n, ORGANIC), "person": np.arange(n), "inviter": np.full(n, -1),
            "shares": shares}


def _nobody() -> dict[str, np.ndarray]:
    """An empty part of the arrivals (a campaign without a preheat has no preheat visitors)."""
    return {"t": np.zeros(0), "persona": np.zeros(0, dtype=np.int8), "channel": np.zeros(0, dtype=np.int16),
            "origin": np.zeros(0, dtype=np.int8), "person": np.zeros(0, dtype=np.int64),
            "inviter": np.zeros(0, dtype=np.int64), "shares": np.zeros(0, dtype=np.int16)}


def _preheat(scenario: Scenario, rng: np.random.Generator, channel_shares: np.ndarray) -> dict[str, np.ndarray]:
    """Preheat visits by the daily cycle, and the visitors who come back after launch."""
    phases, browser = scenario.campaign.phases, scenario.personas.preheat_browser
    if not phases.has_preheat:
        return _nobody()
    n = int(rng.poisson(scenario.traffic.preheat_visitors))
    hours = int(np.ceil(phases.preheat_s / 3600))
    launch_hour = phases.launch.hour
    cycle = np.asarray(scenario.traffic.curve.daily_cycle, dtype=float)
    hour_of_day = (launch_hour - hours + np.arange(hours)) % 24
    weights = cycle[hour_of_day] / cycle[hour_of_day].sum()
    hour = rng.choice(hours, size=n, p=weights)
    t = -phases.preheat_s + (hour + rng.random(n)) * 3600.0
    t = np.minimum(t, -1e-3)
    person = np.arange(n) + 10_000_000_000  # apart from organic numbers
    channel = rng.choice(len(channel_shares), size=n, p=channel_shares)
    back = rng.random(n) < browser.return_at_launch
    back_t = _lognormal(rng, browser.return_delay.median, browser.return_delay.sigma, int(back.sum()))
    keep = back_t < phases.live_s
    m = int(keep.sum())
    return {
        "t": np.concatenate([t, back_t[keep]]),
        "persona": np.full(n + m, PREHEAT),
        "channel": np.concatenate([channel, channel[back][keep]]),
        "origin": np.concatenate([np.full(n, PREHEAT_VISIT), np.full(m, RETURNED)]),
        "person": np.concatenate([person, person[back][keep]]),
        "inviter": np.full(n + m, -1), "shares": np.zeros(n + m, dtype=np.int16),
    }


def _invited(scenario: Scenario, rng: np.random.Generator, organic: dict[str, np.ndarray],
             curve: ArrivalCurve, audience: float) -> dict[str, np.ndarray]:
    """Invitees brought by the organic sharers: one Poisson draw per sharer, delays lognormal."""
    sharer = scenario.personas.sharer
    who = np.flatnonzero(organic["persona"] == SHARER)
    t0 = organic["t"][who]
    interest = np.power(0.5, t0 / sharer.interest_half_life)
    filled = np.interp(t0, curve.grid_t, curve.cumulative) / audience
    room = np.clip(1.0 - filled, 0.0, 1.0)
    expected = organic["shares"][who] * sharer.invitees_per_share_mean * interest * room
    brought = rng.poisson(expected)
    n = int(brought.sum())
    inviter_index = np.repeat(who, brought)
    delay = _lognormal(rng, sharer.invitee_delay.median, sharer.invitee_delay.sigma, n)
    t = organic["t"][inviter_index] + delay
    keep = t < scenario.campaign.phases.live_s
    m = int(keep.sum())
    return {"t": t[keep], "persona": np.full(m, INVITEE),
            "channel": organic["channel"][inviter_index][keep], "origin": np.full(m, INVITED),
            "person": np.arange(m) + 20_000_000_000, "inviter": organic["person"][inviter_index][keep],
            "shares": np.zeros(m, dtype=np.int16)}


def with_fraud_surges(people: Participants, surges, rng: np.random.Generator) -> Participants:
    """`people` plus the extra script operators of each surge (a drill's fraud wave): every
    organic fraud arrival in the surge brings Poisson(multiplier - 1) more within its minute,
    so fraud arrives `multiplier` times as often there and follows the curve's shape."""
    extra = []
    next_person = 30_000_000_000
    for surge in surges:
        rows = np.flatnonzero((people.persona == FRAUD) & (people.origin == ORGANIC)
                              & (people.t >= surge.start) & (people.t < surge.end))
        copies = rng.poisson(surge.multiplier - 1.0, len(rows))
        source = np.repeat(rows, copies)
        n = len(source)
        t = np.minimum(people.t[source] + rng.random(n) * STEP_S, np.nextafter(surge.end, surge.start))
        extra.append({"t": t, "persona": np.full(n, FRAUD), "channel": people.channel[source],
                      "origin": np.full(n, ORGANIC), "person": next_person + np.arange(n),
                      "inviter": np.full(n, -1), "shares": np.zeros(n, dtype=np.int16)})
        next_person += n
    if not extra:
        return people
    columns = ("t", "persona", "channel", "origin", "person", "inviter", "shares")
    merged = {c: np.concatenate([getattr(people, c)] + [e[c] for e in extra]).astype(getattr(people, c).dtype)
              for c in columns}
    order = np.argsort(merged["t"], kind="stable")
    return Participants(**{c: merged[c][order] for c in columns})
