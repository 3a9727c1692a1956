"""Whether a live run played the scenario's load: its figures beside the simulator's for the
same stretch of campaign time, and the check `load.matches_scenario`.

The live run plays one participant in K (scale 1:K) at X campaign seconds per wall second
(compress), compared over the whole minutes it played before its first incident (a ban, a
budget race and a drill's incidents change the load on purpose). The simulator's figures are scaled to the live run's terms: arrivals and active
users divided by K, requests/s multiplied by X / K. Both sides are counted the same way, from
the rows each engine wrote, over the whole minutes (the simulator's buckets) the live run played:

- arrivals per persona: participants whose first request fell in those minutes (the simulator:
  its participants arriving then);
- active users: participants with requests at or around a minute (first <= minute <= last),
  averaged over the minutes;
- requests/s per persona and per action.

A figure agrees when it is within the scenario's tolerance (`gates.load.tolerance`) of the
simulator's, or within the noise of its count where counts are small: 3 standard deviations of
a Poisson count for arrivals and active users; for requests, of a compound Poisson sum (the
participants arrive at random, each sending its own number n of requests: variance
E[count] x E[n^2] / E[n], the dispersion measured live or the simulator's, the larger; the
count expected by the simulator), so a few fraud scripts sending hundreds of requests each get the
wide band they need, whether or not a small live run happened to meet one (a figure
with fewer than MIN_EXPECTED participants behind it is shown, not judged: requests come in
sessions, so it is the participants that make a figure's noise); invitees
arrive in families (a sharer's friends), so their figures' variance is multiplied by the mean
family size (shares x invitees per share). A disagreement means the live load is not the
scenario's: a defect of the harness, or of the target (slow answers stretch sessions).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from rehearse.observations import Run
from rehearse.observations.schema import ACTIVE_BY_MINUTE, HARNESS_KEY_PREFIX, HARNESS_PERSONAS
from rehearse.judging.verdicts import Evidence, Verdict, judged, unverified
from rehearse.scenarios import Scenario

MINUTE_S = 60.0
MIN_EXPECTED = 30.0  # a figure with fewer participants behind it is shown, not judged
NOISE_SIGMAS = 3.0
CHECK = "live load matches the scenario's"
INVITED = ("invitee", "visit_link")  # the figures only invitees make (the persona, and the link visit)


@dataclass(frozen=True)
class Figure:
    """One figure of the live run beside the simulator's, scaled to the live run."""

    group: str  # "arrivals", "active users", "requests/s by persona", "requests/s by action"
    name: str  # the persona or action ("" for active users)
    live: float
    simulated: float
    band: float  # the largest difference that still agrees
    expected: float = math.inf  # the participants behind the simulator's figure, in the live run's terms

    @property
    def judged(self) -> bool:
        """Whether there is enough behind the figure to judge it (MIN_EXPECTED or more)."""
        return self.expected >= MIN_EXPECTED

    @property
    def agrees(self) -> bool:
        return not self.judged or abs(self.live - self.simulated) <= self.band

    @property
    def label(self) -> str:
        return f"{self.group} {self.name}".strip()

    @property
    def difference(self) -> float | None:
        """live / simulated - 1, None when the simulator has none."""
        return self.live / self.simulated - 1 if self.simulated else None


@dataclass(frozen=True)
class Agreement:
    """The side-by-side figures, or why they could not be compared."""

    figures: tuple[Figure, ...]
    minutes: tuple[float, float]  # campaign time compared: [start, end)
    scale: float
    compress: float
    why_not: str = ""

    def disagreeing(self) -> list[Figure]:
        return [f for f in self.figures if not f.agrees]

    def judged(self) -> list[Figure]:
        return [f for f in self.figures if f.judged]


def compare(live: Run, simulated: Run, scenario: Scenario) -> Agreement:
    """The live run's load beside the simulator's for the minutes the live run played."""
    info = live.info
    scale, compress = float(info.scale), float(info.compress or 1.0)
    window = scenario.traffic.windows.get(str(info.extra.get("window", "")))
    played = info.extra.get("played_s", info.extra.get("duration_s"))
    if window is None or not isinstance(played, (int, float)):
        return Agreement((), (0.0, 0.0), scale, compress, "the live run does not say which window it played")
    start = window.start
    # the run's own incidents (a ban, a budget race, a drill's) change its load on purpose: the
    # scenario's load is compared up to the first of them
    incidents = live.events[(live.events["kind"] == "incident") & (live.events["t"] >= start)]["t"]
    until = min(start + played * compress, window.start + window.duration,
                float(incidents.min()) if len(incidents) else math.inf)
    first = math.ceil(start / MINUTE_S)
    last = math.floor(until / MINUTE_S)
    if last <= first:
        return Agreement((), (start, start), scale, compress,
                         f"the live run played less than a whole minute of campaign time ({until - start:,.0f} s) "
                         "before its first incident" if len(incidents) else
                         f"the live run played less than a whole minute of campaign time ({played * compress:,.0f} s)")
    lo, hi = first * MINUTE_S, last * MINUTE_S
    if lo > 0 and _active_before(simulated, lo):
        return Agreement((), (lo, hi), scale, compress,
                         "the window starts after launch: the simulator's participants are already playing when "
                         "it opens, the live run starts empty (compare a window that opens at launch)")
    rows = _organic(live.requests)
    rows = rows[(rows["t"] >= lo) & (rows["t"] < hi)]
    if rows.empty:
        return Agreement((), (lo, hi), scale, compress, "the live run has no requests in the minutes it played")
    sim = _organic(simulated.requests)
    sim = sim[(sim["t"] >= lo) & (sim["t"] < hi)]
    minutes = last - first
    wall_s = minutes * MINUTE_S / compress
    tolerance = scenario.gates.load.tolerance
    figures: list[Figure] = []

    # invitees arrive in families (a sharer's friends): their counts vary by the family's size too
    sharer = scenario.personas.sharer
    family = max(1.0, sharer.shares_mean * sharer.invitees_per_share_mean)

    def add(group: str, name: str, live_value: float, sim_value: float, sigma: float, expected: float) -> None:
        if name in INVITED:
            sigma *= math.sqrt(family)
        figures.append(Figure(group, name, live_value, sim_value, max(tolerance * sim_value, NOISE_SIGMAS * sigma),
                              expected))

    # arrivals per persona (the simulator's: its participants arriving in those minutes)
    firsts = rows.groupby("user_id").agg(persona=("persona", "first"), t=("t", "min"))
    arrived = firsts.groupby("persona").size()
    sim_arrivals = _simulated_arrivals(scenario, simulated.info.seed, lo, hi)
    arrivals_expected = {persona: n / scale for persona, n in sim_arrivals.items()}
    for persona in sorted(set(sim_arrivals) | set(arrived.index)):
        sim_value = sim_arrivals.get(persona, 0) / scale
        add("arrivals", persona, float(arrived.get(persona, 0)), sim_value, math.sqrt(sim_value), sim_value)
    # active users: per minute, participants from the minute they began to the minute they ended
    live_active = _live_active(live, rows, first, minutes)
    g = simulated.gauges
    g = g[(g["t"] >= lo) & (g["t"] < hi)]
    sim_active = float(g["active_users"].astype(float).mean()) / scale if len(g) else math.nan
    if math.isfinite(sim_active):
        add("active users", "", live_active, sim_active, math.sqrt(sim_active), sim_active)
    # requests/s by persona and by action, in the live run's wall seconds
    weights = sim["count"] if "count" in sim else pd.Series(1, index=sim.index)
    for column, group in (("persona", "requests/s by persona"), ("action", "requests/s by action")):
        live_counts = rows.groupby(column).size()
        sim_counts = weights.groupby(sim[column]).sum()
        # participants arrive at random, each sending n requests: the total's variance is sum(n^2)
        # (sum(n^2) / sum(n), the requests per participant a random request's sender made, measured
        # live; times the expected count under the scenario: a band that does not shrink when the
        # live run happens to be short)
        per_user = rows.groupby([column, "user_id"]).size().astype(float)
        dispersion = (per_user ** 2).groupby(level=0).sum() / per_user.groupby(level=0).sum()
        per_head = per_user.groupby(level=0).mean()
        spread = _simulated_dispersion(sim, weights, column, sim_arrivals)
        for name in sorted(set(live_counts.index) | set(sim_counts.index)):
            # the simulator's count at 1:1 over those minutes is K times the live run's expected count
            expected = float(sim_counts.get(name, 0)) / scale
            sigma = math.sqrt(expected * max(float(dispersion.get(name, 1.0)), spread.get(name, 1.0)))
            # the participants those requests come from: a persona's expected arrivals; for an action,
            # its expected requests over the requests each participant sent it (live, or the
            # scenario's spread where a few heavy senders make most of it: then only a few
            # participants' worth of information is behind the figure, too few to judge)
            behind = (arrivals_expected.get(name, 0.0) if column == "persona"
                      else expected / max(float(per_head.get(name, 1.0)), spread.get(name, 1.0)))
            add(group, name, float(live_counts.get(name, 0)) / wall_s, expected / wall_s, sigma / wall_s, behind)
    return Agreement(tuple(figures), (lo, hi), scale, compress)


def _simulated_dispersion(sim: pd.DataFrame, weights: pd.Series, column: str,
                          arrivals: dict[str, int]) -> dict[str, float]:
    """The scenario's own spread of a figure's requests (sum(n^2) / sum(n)) as the simulator
    played it: each persona's participants send its count over its arrivals in those minutes,
    m each on average, so sum(n^2) >= count x m per persona (Jensen: a lower bound). The live run
    measures the spread of what it met; a heavy sender it happened not to meet (one fraud script
    in a few dozen participants) still widens the band and leaves the figure with few
    participants' worth behind it (shown, not judged), so missing it is neither called a load that
    is not the scenario's nor taken as the scenario's."""
    by_persona = weights.groupby(sim["persona"]).sum()
    per_head = {persona: float(n) / arrivals[persona] for persona, n in by_persona.items()
                if arrivals.get(persona, 0) > 0}
    if column == "persona":
        return per_head
    counts = weights.groupby([sim[column], sim["persona"]]).sum()
    spread: dict[str, float] = {}
    for name in counts.index.get_level_values(0).unique():
        of_name = counts.loc[name]
        # a persona's n requests of this action come from its arrivals: n / arrivals each
        squares = sum(float(n) ** 2 / arrivals[persona] for persona, n in of_name.items() if persona in per_head)
        total = float(of_name.sum())
        if total > 0:
            spread[str(name)] = squares / total
    return spread


def _live_active(live: Run, rows: pd.DataFrame, first: int, minutes: int) -> float:
    """Mean participants playing per minute: from the load processes' own count of journeys
    (the `active_by_minute` events), else from the rows (first to last request: a journey
    still going at the run's end then counts only to its last request)."""
    events = live.events[live.events["kind"] == ACTIVE_BY_MINUTE]
    if len(events):
        counts = np.zeros(minutes)
        for detail in events["detail"]:
            for t, n in json.loads(detail).items():
                m = int(float(t) // MINUTE_S) - first
                if 0 <= m < minutes:
                    counts[m] += n
        return float(counts.mean())
    spans = rows.groupby("user_id")["t"].agg(["min", "max"]) // MINUTE_S
    begin = spans["min"].to_numpy(np.int64) - first
    end = np.minimum(spans["max"].to_numpy(np.int64) - first + 1, minutes)
    change = np.bincount(begin, minlength=minutes + 1)[: minutes + 1] - np.bincount(end, minlength=minutes + 1)[: minutes + 1]
    return float(np.cumsum(change)[:minutes].mean())


def _organic(requests: pd.DataFrame) -> pd.DataFrame:
    """The scenario's participants' requests (not the harness's own: its prober, racers, early
    birds and flagged numbers)."""
    organic = ~requests["persona"].isin(HARNESS_PERSONAS)
    if "user_id" in requests.columns:  # a rolled-up run keeps no participants, and no harness ones
        organic &= ~requests["user_id"].astype(str).str.startswith(HARNESS_KEY_PREFIX)
    return requests[organic]


def _active_before(simulated: Run, t: float) -> bool:
    g = simulated.gauges
    before = g[(g["t"] < t) & (g["t"] >= t - MINUTE_S)]
    return bool(len(before)) and float(before["active_users"].astype(float).max()) > 0


def _simulated_arrivals(scenario: Scenario, seed: int, lo: float, hi: float) -> dict[str, int]:
    """The simulator's participants arriving in [lo, hi), per persona (its arrival process)."""
    from rehearse.simulator.arrivals import PERSONAS, generate

    people = generate(scenario, seed)
    inside = (people.t >= lo) & (people.t < hi)
    found = np.bincount(people.persona[inside], minlength=len(PERSONAS))
    return {PERSONAS[i]: int(n) for i, n in enumerate(found) if n}


def load_check(runs: Sequence[tuple[str, Run]], scenario: Scenario) -> list[tuple[str, Verdict, Agreement | None]]:
    """(label, `load.matches_scenario`, the figures side by side) for each live run, against the
    simulated run beside it."""
    simulated = next((run for _, run in runs if not run.info.live), None)
    checked: list[tuple[str, Verdict, Agreement | None]] = []
    for label, run in runs:
        if not run.info.live or run.info.step_load:
            continue  # a step load paces arrivals by concurrency, not by the scenario's clock
        if simulated is None:
            checked.append((label, unverified("load", CHECK, "no simulated run to compare with",
                                              slug="matches_scenario"), None))
            continue
        agreement = compare(run, simulated, scenario)
        checked.append((label, verdict_of(agreement, scenario), agreement))
    return checked


AGREEMENT_HEADER = ["figure", "live", "simulator, scaled", "difference", "agrees"]


def agreement_rows(agreement: Agreement) -> list[list[str]]:
    """One row per figure: the live value, the simulator's scaled to the live run, and whether
    they agree."""
    return [[f.label, f"{f.live:,.2f}", f"{f.simulated:,.2f}", _pct(f.difference),
             "too few to judge" if not f.judged else "yes" if f.agrees else f"NO (±{f.band:,.2f})"]
            for f in agreement.figures]


def agreement_title(label: str, agreement: Agreement) -> str:
    lo, hi = agreement.minutes
    return (f"{label} load against the scenario's: campaign {lo:,.0f}-{hi:,.0f} s; the simulator's figures "
            f"scaled to 1:{agreement.scale:g} at x{agreement.compress:g} (requests/s in wall seconds)")


def verdict_of(agreement: Agreement, scenario: Scenario) -> Verdict:
    if agreement.why_not:
        return unverified("load", CHECK, agreement.why_not, slug="matches_scenario")
    if not agreement.judged():
        return unverified("load", CHECK, f"too few participants to compare (under {MIN_EXPECTED:g} behind "
                                         "every figure): play a longer stretch or a finer scale",
                          slug="matches_scenario")
    off = agreement.disagreeing()
    tolerance = scenario.gates.load.tolerance
    evidence = [Evidence(None, f"{f.label}: live {f.live:,.2f}, simulated {f.simulated:,.2f} "
                               f"({_pct(f.difference)}; agrees within ±{f.band:,.2f})") for f in off]
    if not off:
        evidence = [Evidence(None, f"{len(agreement.judged())} figures agree within ±{tolerance:.0%} or their noise, "
                                   f"minutes {agreement.minutes[0]:,.0f}-{agreement.minutes[1]:,.0f} s")]
    else:
        evidence.insert(0, Evidence(None, "the live load is not the scenario's load"))
    return judged("load", CHECK, float(len(off)), 0.0, "figures off", not off, evidence, slug="matches_scenario")


def _pct(difference: float | None) -> str:
    return "the simulator has none" if difference is None else f"{difference:+.0%}"
