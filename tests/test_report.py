"""The capacity report: key figures from both request forms, plots, and the HTML, Markdown, JUnit
and JSON renderings, on crafted run folders and on a small simulated campaign."""

from __future__ import annotations

import base64
from dataclasses import replace
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from rehearse.observations import (
    EVENTS, GAUGES, REQUEST_ROLLUP, Run, RunInfo, RunWriter, consolidate, load_run, save_run,
)
from rehearse.reports.compare import compare, regressions
from rehearse.reports.figures import key_figures
from rehearse.reports.html import render_html
from rehearse.reports.json_report import report_json
from rehearse.reports.junit import render_junit
from rehearse.reports.markdown import render_markdown
from rehearse.reports.plots import PLOTS, all_plots, funnel_counts
from rehearse.judging.verdicts import Evidence, judged, tally

START = datetime(2026, 1, 20, 12, 0, tzinfo=timezone.utc)
PNG = b"\x89PNG\r\n\x1a\n"


def make_info(**changes) -> RunInfo:
    fields = dict(scenario="year_end_red_envelope", scenario_digest="0123456789abcdef",
                  engine="swarm", seed=7, compress=1.0, versions={"python": "3.11"},
                  started_at=START)
    return RunInfo(**{**fields, **changes})


def request(t: float, persona: str, action: str, *, status: int = 200, ok: bool = True,
            refused: bool = False, latency_ms: float = 10.0, payout_fen: int = 0) -> dict:
    return dict(t=t, engine="swarm", persona=persona, user_id=f"{persona}-1", action=action,
                channel="main_venue", domain="hb1.example", status=status, ok=ok, refused=refused,
                latency_ms=latency_ms, payout_fen=payout_fen, error="" if ok else "x",
                prize="anhe" if action == "open_envelope" else "", attempt=f"{persona}-1#{t:g}")


@pytest.fixture
def raw_run(tmp_path: Path) -> Run:
    """Five requests (one broken, one refused), 400 fen paid (100 to fraud), 3 gauges, 5 events."""
    folder = tmp_path / "raw"
    with RunWriter(folder, make_info()) as out:
        out.request(**request(0.0, "normal", "open_page", latency_ms=10.0))
        out.request(**request(30.0, "normal", "open_envelope", latency_ms=20.0, payout_fen=300))
        out.request(**request(60.0, "fraud_script", "open_envelope", latency_ms=40.0,
                              payout_fen=100))
        out.request(**request(90.0, "fraud_script", "login", status=403, ok=False, refused=True,
                              latency_ms=5.0))
        out.request(**request(120.0, "normal", "open_envelope", status=503, ok=False,
                              latency_ms=3000.0))
        out.gauge(t=0.0, active_users=5, arrivals=5, rps=2.0, budget_left_fen=1000,
                  healthy_domains=4, banned_domains=0)
        out.gauge(t=60.0, active_users=12, arrivals=7, rps=1.0, budget_left_fen=700,
                  healthy_domains=3, banned_domains=1)
        out.gauge(t=120.0, active_users=7, arrivals=0, budget_left_fen=600, healthy_domains=4,
                  banned_domains=1)
        out.event(50.0, "ban", "hb1.example: visits 61 > 60")
        out.event(80.0, "failover", "hb1.example -> bk1.example")
        out.event(100.0, "alarm", "fund-loss ratio 1.3")
        out.event(110.0, "alarm", "fund-loss ratio 1.7")
        out.event(115.0, "topup", "anhe +100000 fen")
    consolidate(folder)
    return load_run(folder)


def rollup_row(t: float, action: str, count: int, *, persona: str = "normal", ok: bool = True,
               refused: bool = False, p95: float = 10.0, payout_fen: int = 0) -> dict:
    return dict(t=t, engine="simulator", persona=persona, action=action, channel="main_venue",
                domain="", status=200 if ok else (409 if refused else 504), ok=ok, refused=refused,
                error="", count=count, latency_p50=p95 / 2, latency_p95=p95, latency_p99=p95 * 1.5,
                payout_fen=payout_fen, prize="anhe" if action == "open_envelope" else "")


@pytest.fixture
def rolled_run(tmp_path: Path) -> Run:
    """Ten requests in three rolled-up rows: one refused, one broken; no gauges, no events."""
    rows = [rollup_row(0.0, "open_page", 8, p95=15.0),
            rollup_row(0.0, "open_envelope", 1, ok=False, refused=True, p95=50.0),
            rollup_row(60.0, "open_envelope", 1, ok=False, p95=80.0, persona="fraud_script")]
    rows[0]["payout_fen"] = 600  # not realistic for open_page, but it is a count-free sum
    info = make_info(engine="simulator", rolled_up=True, extra={"bucket_s": 60.0})
    requests = REQUEST_ROLLUP.from_columns({c: [r[c] for r in rows]
                                            for c in REQUEST_ROLLUP.columns})
    save_run(tmp_path / "rolled", info, requests, GAUGES.empty(), EVENTS.empty())
    return load_run(tmp_path / "rolled")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A small simulated campaign whose link pool runs dry and whose budget is topped up."""
    from rehearse.scenarios import load_scenario
    from rehearse.simulator.campaign import simulate

    scenario = load_scenario(overrides=[
        "traffic.participants_first_24h=2000", "traffic.participants_total=4000",
        "traffic.preheat_visitors=200",
        "links.ban_rule={window: 1h, max_visits: 15, max_shares: 5}",
        "budget.topups=[{at: 3600, pool: anhe, amount_fen: 100000}]"])
    result = simulate(scenario, seed=1)
    folder = tmp_path_factory.mktemp("sim")
    save_run(folder, RunInfo.start(scenario, engine="simulator", seed=1, rolled_up=True),
             result.requests, result.gauges, result.events)
    return load_run(folder)


VERDICTS = [replace(v, run="live") for v in (
    judged("peak", "p95 open_envelope", 80.0, 800.0, "ms", True, [Evidence(3600.0, "peak window")]),
    judged("payout", "fraud share", 0.25, 0.05, "share", False,
           [Evidence(60.0, "<script>alert(1)</script> | paid"), Evidence(None, "second")]),
    judged("failover", "ban hb1", None, 300.0, "s", None),
)]


# key figures

def test_key_figures_of_a_raw_run_are_exact(raw_run: Run) -> None:
    figures = key_figures(raw_run)
    assert figures == {
        "requests": 5, "error_rate": 0.2, "refused_share": 0.2,
        "p95_ms": {"login": 5.0, "open_envelope": pytest.approx(40.0 + 0.9 * 2960.0),
                   "open_page": 10.0},
        "peak_active_users": 12, "peak_active_t": 60.0, "peak_rps": 2.0, "peak_rps_t": 0.0,
        "paid_fen": 400, "fraud_paid_fen": 100, "fraud_share": 0.25,
        "bans": 1, "failovers": 1, "alarms": 2,
    }
    json.dumps(figures)


def test_key_figures_of_a_rolled_up_run_weigh_rows_by_count(rolled_run: Run) -> None:
    figures = key_figures(rolled_run)
    assert figures["requests"] == 10
    assert figures["error_rate"] == 0.1 and figures["refused_share"] == 0.1
    assert figures["p95_ms"] == {"open_envelope": 80.0, "open_page": 15.0}  # the highest bucket p95
    assert figures["peak_active_users"] is None and figures["peak_active_t"] is None
    assert figures["peak_rps"] == 8 / 60 + 1 / 60 and figures["peak_rps_t"] == 0.0  # from requests
    assert (figures["paid_fen"], figures["fraud_share"]) == (600, 0.0)
    assert (figures["bans"], figures["failovers"], figures["alarms"]) == (0, 0, 0)
    json.dumps(figures)


def test_key_figures_of_a_simulated_campaign_agree_with_its_gauges(simulated: Run) -> None:
    figures = key_figures(simulated)
    assert figures["requests"] == int(simulated.requests["count"].sum())
    assert figures["paid_fen"] == int(simulated.gauges["paid_fen"].iloc[-1])
    assert figures["fraud_paid_fen"] == int(simulated.gauges["fraud_paid_fen"].iloc[-1])
    assert figures["bans"] == int((simulated.events["kind"] == "ban").sum()) > 0
    assert figures["peak_active_users"] == int(simulated.gauges["active_users"].max())
    json.dumps(figures)


# plots

def test_every_plot_of_a_full_run_is_a_png(simulated: Run) -> None:
    plots = all_plots(simulated)
    assert list(plots) == list(PLOTS)
    assert plots.pop("Funnel per channel") is None  # rolled-up rows do not carry who did what
    assert all(png is not None and png.startswith(PNG) for png in plots.values())


def test_plots_without_their_data_are_skipped(rolled_run: Run) -> None:
    plots = all_plots(rolled_run)  # no gauges, no events
    skipped = {title for title, png in plots.items() if png is None}
    assert skipped == {"Arrivals and active users", "Budget burn-down", "Link pool", "Funnel per channel"}
    assert plots["Latency against load"].startswith(PNG)
    assert plots["Payouts"].startswith(PNG)


# HTML

def images(html: str) -> list[bytes]:
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    return [base64.b64decode(data) for data in found]


def test_html_embeds_one_png_per_plot_and_nothing_from_outside(simulated: Run,
                                                                rolled_run: Run) -> None:
    html = render_html([("simulated", simulated), ("rolled", rolled_run)], VERDICTS)
    produced = sum(png is not None for run in (simulated, rolled_run)
                   for png in all_plots(run).values())
    pngs = images(html)
    assert len(pngs) == html.count("<img ") == produced == 5 + 2
    assert all(png.startswith(PNG) for png in pngs)
    assert not re.search(r"https?://", html)
    assert "<link" not in html and "<script" not in html
    assert html.count("no data in this run") == 3 + 2  # + the funnel of both rolled-up runs
    assert "<th>simulated</th><th>rolled</th>" in html  # side by side


def test_html_escapes_text_and_shows_verdicts_and_figures(raw_run: Run) -> None:
    html = render_html([("live <b>", raw_run)], VERDICTS)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html and "live <b>" not in html and "live &lt;b&gt;" in html
    assert ('<tr class="fail"><td class="">live</td><td class="">payout</td><td class="">fraud share</td>'
            '<td class="status">FAIL</td>') in html
    assert '<tr class="unverified"><td class="">live</td><td class="">failover</td>' in html
    assert '<p class="verdict fail"><strong>FAIL</strong>: 1 passed; 1 failed; 1 not verified.</p>' in html
    assert html.index('class="verdict fail"') < html.index('class="answers"')  # the verdict leads
    assert '<td class="">fraud&#x27;s share of payouts</td><td class="num">25.00 %</td>' in html
    assert "Against the baseline" not in html


def test_html_with_a_baseline_shows_the_deltas(raw_run: Run) -> None:
    baseline = {**key_figures(raw_run), "fraud_share": 0.2}
    html = render_html([("live", raw_run)], [], baseline=baseline)
    assert "Against the baseline (live)" in html
    assert '<tr class="regressed"><td class="">fraud_share</td>' in html


# Markdown

def test_markdown_holds_the_verdicts_and_key_figures(raw_run: Run) -> None:
    text = render_markdown([("live", raw_run)], VERDICTS)
    lines = text.splitlines()
    assert lines[0] == "## Capacity report: FAIL"
    assert "| run | gate | check | status | figure | limit | unit | evidence |" in lines
    assert "| live | peak | p95 open_envelope | pass | 80 | 800 | ms | t=60.0 min: peak window |" in lines
    assert ("| live | payout | fraud share | FAIL | 0.25 | 0.05 | share | "
            "t=60.0 s: &lt;script&gt;alert(1)&lt;/script&gt; \\| paid; second |") in lines
    assert "| live | failover | ban hb1 | not verified | - | 300 | s |  |" in lines
    assert "| fraud's share of payouts | 25.00 % |" in lines
    assert "| p95 open_envelope (ms) | 2,704 |" in lines
    assert len(lines) < 60


def test_markdown_lists_only_regressions_against_a_baseline(raw_run: Run) -> None:
    baseline = key_figures(raw_run)
    assert "No regressions." in render_markdown([("live", raw_run)], [], baseline=baseline)
    slower = {**baseline, "p95_ms": {"login": 4.0}}
    worse = render_markdown([("live", raw_run)], [], baseline=slower)
    assert "| p95_ms.login | 4 | 5 | +1 | +25.0 % | REGRESSED |" in worse.splitlines()


# JUnit

def test_junit_has_one_case_per_verdict_and_counts_them() -> None:
    suite = ET.fromstring(render_junit(VERDICTS))
    assert suite.tag == "testsuite" and suite.get("name") == "rehearse gates"
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "3", "failures": "1", "errors": "0", "skipped": "1"}
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == \
        [("peak", "live: p95 open_envelope"), ("payout", "live: fraud share"), ("failover", "live: ban hb1")]
    failure = cases[1].find("failure")
    assert failure.get("message") == "0.25 share against a limit of 0.05 share"
    assert "<script>alert(1)</script>" in failure.text
    assert cases[0].find("failure") is None and cases[0].find("skipped") is None
    assert cases[2].find("skipped") is not None


def test_junit_errs_on_a_required_check_not_verified_and_leads_with_the_verdict() -> None:
    judged_ = tally(VERDICTS, missing=[VERDICTS[2]])
    suite = ET.fromstring(render_junit(VERDICTS, judged_))
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "3", "failures": "1", "errors": "1", "skipped": "0"}
    error = suite.findall("testcase")[2].find("error")
    assert error.get("type") == "inconclusive" and error.get("message") == "a required check was not verified"
    assert suite.findall("testcase")[2].find("failure") is None  # not verified is not failed
    assert suite[0].tag == "properties" and suite[0][0].attrib == {"name": "verdict", "value": "FAIL"}
    open_only = [VERDICTS[0], VERDICTS[2]]  # nothing failed: INCONCLUSIVE, what would verify it said
    suite = ET.fromstring(render_junit(open_only, tally(open_only, missing=[open_only[1]])))
    properties = {p.get("name"): p.get("value") for p in suite[0]}
    assert properties["verdict"] == "INCONCLUSIVE" and properties["to_conclude.1"].startswith("live: failover.")
    assert {k: suite.get(k) for k in ("failures", "errors")} == {"failures": "0", "errors": "1"}


def test_junit_of_no_verdicts_is_an_empty_suite() -> None:
    suite = ET.fromstring(render_junit([]))
    assert suite.get("tests") == "0" and suite.findall("testcase") == []


# compare and JSON

def test_compare_flags_a_p95_rise_over_ten_percent_only() -> None:
    deltas = {d.figure: d for d in compare({"p95_ms": {"login": 120.0, "share": 105.0}},
                                           {"p95_ms": {"login": 100.0, "share": 100.0}})}
    assert deltas["p95_ms.login"].regressed
    assert deltas["p95_ms.login"].relative == pytest.approx(0.2)
    assert not deltas["p95_ms.share"].regressed and deltas["p95_ms.share"].delta == 5.0


@pytest.mark.parametrize("figure, baseline, current, regressed", [
    ("error_rate", 0.010, 0.0115, True),     # +15 % and +0.15 points
    ("error_rate", 0.0001, 0.0005, False),   # +400 % but only +0.04 points
    ("error_rate", 0.010, 0.0105, False),    # +5 %
    ("fraud_share", 0.10, 0.12, True),
    ("fraud_share", 0.0, 0.01, True),        # from none at all
    ("fraud_share", 0.10, 0.08, False),
    ("paid_fen", 1000, 5000, False),         # paying more is not a regression
    ("p95_ms.login", None, 50.0, False),     # nothing to compare with
])
def test_compare_rules(figure: str, baseline, current, regressed: bool) -> None:
    def nest(value):
        if figure.startswith("p95_ms."):
            return {"p95_ms": {} if value is None else {"login": value}}
        return {figure: value}
    [delta] = compare(nest(current), nest(baseline))
    assert (delta.figure, delta.regressed) == (figure, regressed)
    assert regressions([delta]) == ([delta] if regressed else [])


def test_report_json_has_every_figure_verdict_and_delta(raw_run: Run, rolled_run: Run) -> None:
    baseline = {**key_figures(raw_run), "requests": 4}
    report = report_json([("live", raw_run), ("sim", rolled_run)], VERDICTS, baseline=baseline)
    assert json.loads(json.dumps(report)) == report
    assert [r["label"] for r in report["runs"]] == ["live", "sim"]
    assert report["runs"][1]["rolled_up"] is True
    assert report["runs"][0]["figures"]["fraud_share"] == 0.25
    assert report["verdicts"] == [v.as_dict() for v in VERDICTS] and report["passed"] is False
    requests = next(d for d in report["deltas"] if d["figure"] == "requests")
    assert (requests["current"], requests["baseline"], requests["delta"]) == (5, 4, 1)
    assert report_json([("live", raw_run)], [])["deltas"] == []


def test_the_funnel_per_channel_is_drawn_for_a_live_run_only(tmp_path):
    from rehearse.observations import EVENTS, GAUGES, REQUEST_ROLLUP, RunInfo, load_run, save_run
    from rehearse.reports.plots import funnel
    from rehearse.scenarios import load_scenario

    rows = []
    for n, channel in enumerate(["main_venue"] * 6 + ["video_a"] * 3):
        user = f"normal-{n}"
        rows += [dict(t=float(n), engine="swarm", persona="normal", user_id=user, action=action,
                      channel=channel, domain="", status=200, ok=True, refused=False, latency_ms=5.0,
                      payout_fen=100 if action == "open_envelope" else 0, error="",
                      prize="anhe" if action == "open_envelope" else "", attempt=f"{user}#{action}")
                 for action in ("open_page", "login", "complete_task", "open_envelope")[: 2 + n % 3]]
    info = RunInfo.start(load_scenario(), engine="swarm", seed=1)
    save_run(tmp_path / "live", info, pd.DataFrame(rows), GAUGES.empty(), EVENTS.empty())
    png = funnel(load_run(tmp_path / "live"))
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
    rolled = RunInfo.start(load_scenario(), engine="simulator", seed=1, rolled_up=True)
    save_run(tmp_path / "sim", rolled, REQUEST_ROLLUP.empty(), GAUGES.empty(), EVENTS.empty())
    assert funnel(load_run(tmp_path / "sim")) is None


def test_the_funnel_shows_only_the_steps_the_campaign_has() -> None:
    """A campaign without a grand round has no grand draw bar; one whose draw nobody reached shows 0."""
    from test_gates import make_run, request

    rows = [request(1.0, "open_page", user="a"), request(2.0, "login", user="a"),
            request(3.0, "complete_task", user="a"), request(4.0, "open_envelope", user="a", payout_fen=88)]
    channels, steps, counts = funnel_counts(make_run(rows))
    assert steps == ["arrived", "logged in", "did a task", "opened an envelope"] and counts.tolist() == [[1, 1, 1, 1]]
    refused = request(5.0, "grand_draw", user="a", ok=False, refused=True, status=409)
    _, steps, counts = funnel_counts(make_run(rows + [refused]))
    assert steps[-1] == "grand draw" and counts.tolist() == [[1, 1, 1, 1, 0]]
    _, steps, counts = funnel_counts(make_run(rows[:2]))  # nobody got to an envelope: a core step shows 0
    assert steps == ["arrived", "logged in", "opened an envelope"] and counts.tolist() == [[1, 1, 0]]
