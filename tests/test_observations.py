"""Run folders (contract 3): rows written come back exactly, from one writer or several, in
Parquet or CSV, after a clean finish or an interruption."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from rehearse import observations
from rehearse.observations import (
    EVENTS,
    GAUGES,
    REQUEST_ROLLUP,
    REQUESTS,
    ObservationError,
    RunInfo,
    RunWriter,
    consolidate,
    default_format,
    load_run,
)
from rehearse.scenarios import RehearseError

START = datetime(2026, 1, 20, 12, 0, tzinfo=timezone.utc)
END = START + timedelta(minutes=5)
VERSIONS = {"python": "3.11.7", "rehearse": "0.1.0", "simpy": "4.1.2"}


def make_info(**changes) -> RunInfo:
    fields = dict(scenario="year_end_red_envelope", scenario_digest="0123456789abcdef",
                  engine="simulator", seed=7, scale=1000, compress=60.0, versions=VERSIONS,
                  started_at=START, extra={"window": "launch", "workers": 2})
    return RunInfo(**{**fields, **changes})


def request_row(t: float, user: str = "u1", **changes) -> dict:
    row = dict(t=t, engine="simulator", persona="normal", user_id=user, action="open_envelope",
               channel="wechat", domain="", status=200, ok=True, refused=False, latency_ms=12.5,
               payout_fen=88, error="", prize="anhe", attempt=f"{user}#{t:g}")
    return {**row, **changes}


def rollup_row(t: float, **changes) -> dict:
    row = dict(t=t, engine="simulator", persona="normal", action="open_page", channel="wechat",
               domain="a.example", status=200, ok=True, refused=False, error="", count=1500,
               latency_p50=20.0, latency_p95=80.5, latency_p99=140.0, payout_fen=0, prize="")
    return {**row, **changes}


def dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {c: str(d) for c, d in frame.dtypes.items()}


def expected_dtypes(table) -> dict[str, str]:
    return {c: str(pd.Series([], dtype=d).dtype) for c, d in table.columns.items()}


def parts(folder: Path) -> list[str]:
    folder = folder / "parts"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture(params=["parquet", "csv"])
def fmt(request) -> str:
    return request.param


def test_rows_come_back_exactly_with_their_dtypes(tmp_path: Path, fmt: str) -> None:
    rows = [request_row(-30.0, persona="preheat_browser", status=403, ok=False, refused=True,
                        payout_fen=0, error="preheat: not open yet"),
            request_row(0.25, domain="a.example", payout_fen=12_345_678_901),
            request_row(0.25, user="u2", latency_ms=0.0, error='quote " and, comma')]
    with RunWriter(tmp_path, make_info(), fmt=fmt, now=lambda: END) as out:
        for row in rows:
            out.request(**row)
        out.gauge(t=0.0, active_users=10, arrivals=3, rps=1.5, budget_left_fen=1_000_000,
                  paid_fen=0, fraud_paid_fen=0, healthy_domains=4, banned_domains=0, alarm_level=0)
        out.gauge(t=60.0, active_users=12, rps=2.0)  # the rest cannot be measured here
        out.event(30.0, "ban", "a.example")
    consolidate(tmp_path, fmt=fmt)

    run = load_run(tmp_path)

    assert run.rolled_up is False
    assert run.requests.to_dict("records")[:2] == rows[:2]
    assert run.requests.loc[2, "error"] == 'quote " and, comma'
    assert run.requests.loc[2, "latency_ms"] == 0.0  # a latency is always a number (NaN is refused)
    assert dtypes(run.requests) == expected_dtypes(REQUESTS)
    assert run.requests["payout_fen"].sum() == 12_345_678_989
    assert run.gauges["budget_left_fen"].tolist() == [1_000_000, pd.NA]
    assert run.gauges["queue_depth"].isna().all()
    assert dtypes(run.gauges) == expected_dtypes(GAUGES)
    assert run.events.to_dict("records") == [{"t": 30.0, "kind": "ban", "detail": "a.example"}]
    assert dtypes(run.events) == expected_dtypes(EVENTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["run.json", f"requests.{fmt}", f"gauges.{fmt}", f"events.{fmt}"])


def test_run_json_records_what_was_passed_in_and_how_it_ended(tmp_path: Path) -> None:
    with RunWriter(tmp_path, make_info(), now=lambda: END):
        during = json.loads((tmp_path / "run.json").read_text())
    after = json.loads((tmp_path / "run.json").read_text())

    assert (during["status"], during["ended_at"]) == ("running", None)
    assert after == {
        "scenario": "year_end_red_envelope", "scenario_digest": "0123456789abcdef",
        "engine": "simulator", "seed": 7, "scale": 1000.0, "compress": 60.0, "versions": VERSIONS,
        "started_at": "2026-01-20T12:00:00Z", "ended_at": "2026-01-20T12:05:00Z",
        "status": "finished", "rolled_up": False, "extra": {"window": "launch", "workers": 2},
    }
    assert load_run(tmp_path).info == make_info(ended_at=END, status="finished")


def test_run_info_for_a_scenario_has_its_digest_and_the_tool_versions(scenario) -> None:
    info = RunInfo.start(scenario, engine="walkthrough", now=lambda: START)

    assert (info.scenario, info.scenario_digest) == (scenario.name, scenario.digest())
    assert info.seed == scenario.seed
    assert {"python", "rehearse", "pandas", "simpy"} <= info.versions.keys()
    assert info.started_at == START


def test_two_writers_into_one_folder_add_up(tmp_path: Path) -> None:
    main = RunWriter(tmp_path, make_info(engine="swarm"), writer_id="main", flush_rows=2)
    worker = RunWriter(tmp_path, None, writer_id="worker-1", flush_rows=2)
    for i in range(5):
        main.request(**request_row(float(i), user=f"m{i}"))
        worker.request(**request_row(float(i) + 0.5, user=f"w{i}"))
    worker.event(2.0, "throttle", "worker-1 slowed")
    worker.close()
    main.close()
    consolidate(tmp_path)

    run = load_run(tmp_path)

    assert run.requests["user_id"].tolist() == [
        "m0", "w0", "m1", "w1", "m2", "w2", "m3", "w3", "m4", "w4"]
    assert run.events["kind"].tolist() == ["throttle"]
    assert run.info.status == "finished"
    assert not (tmp_path / "parts").exists()


def test_a_second_writer_with_the_same_id_is_refused(tmp_path: Path) -> None:
    with RunWriter(tmp_path, make_info(), writer_id="w") as out:
        out.event(0.0, "alarm", "x")

    with pytest.raises(ObservationError, match="already holds part files from writer 'w'"):
        RunWriter(tmp_path, None, writer_id="w")


def test_an_exception_leaves_the_run_interrupted_and_its_rows_readable(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        with RunWriter(tmp_path, make_info(), flush_rows=100, now=lambda: END) as out:
            out.request(**request_row(1.0))
            out.request(**request_row(2.0))
            raise KeyboardInterrupt

    run = load_run(tmp_path)  # no consolidation: read straight from the parts

    assert (run.info.status, run.info.ended_at) == ("interrupted", END)
    assert run.requests["t"].tolist() == [1.0, 2.0]


def test_parts_are_written_every_flush_rows(tmp_path: Path) -> None:
    out = RunWriter(tmp_path, make_info(), flush_rows=3, fmt="parquet")
    for i in range(7):
        out.request(**request_row(float(i)))

    assert parts(tmp_path) == ["requests-main-000001.parquet", "requests-main-000002.parquet"]
    assert load_run(tmp_path).requests["t"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert load_run(tmp_path).info.status == "running"
    out.close()
    out.close()  # closing twice does nothing
    assert parts(tmp_path)[-1] == "requests-main-000003.parquet"
    assert len(load_run(tmp_path).requests) == 7


def test_consolidating_twice_changes_nothing(tmp_path: Path) -> None:
    with RunWriter(tmp_path, make_info(), flush_rows=2) as out:
        for t in (3.0, 1.0, 2.0, 1.0):
            out.request(**request_row(t, user=f"u{t}{len(parts(tmp_path))}"))
    consolidate(tmp_path)
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    once = load_run(tmp_path).requests

    consolidate(tmp_path)

    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == first
    assert once["t"].tolist() == [1.0, 1.0, 2.0, 3.0]
    assert once["user_id"].tolist() == ["u1.00", "u1.01", "u2.01", "u3.00"]  # ties keep write order


def test_tables_without_rows_are_written_empty_with_their_columns(tmp_path: Path) -> None:
    with RunWriter(tmp_path, make_info()) as out:
        out.event(0.0, "pause", "")
    consolidate(tmp_path)

    run = load_run(tmp_path)

    assert (tmp_path / "requests.parquet").is_file() and (tmp_path / "gauges.parquet").is_file()
    assert len(run.requests) == 0 and dtypes(run.requests) == expected_dtypes(REQUESTS)
    assert len(run.gauges) == 0 and dtypes(run.gauges) == expected_dtypes(GAUGES)
    assert run.events["kind"].tolist() == ["pause"]


def test_a_rolled_up_requests_table_is_read_as_such(tmp_path: Path, fmt: str) -> None:
    with RunWriter(tmp_path, make_info(rolled_up=True), fmt=fmt) as out:
        out.request(**rollup_row(60.0))
        out.request(**rollup_row(0.0, payout_fen=4_200, count=7))
    consolidate(tmp_path, fmt=fmt)

    run = load_run(tmp_path)

    assert run.rolled_up is True
    assert run.requests.to_dict("records") == [rollup_row(0.0, payout_fen=4_200, count=7),
                                               rollup_row(60.0)]
    assert dtypes(run.requests) == expected_dtypes(REQUEST_ROLLUP)


def test_a_requests_file_in_the_other_form_is_named_in_the_error(tmp_path: Path) -> None:
    with RunWriter(tmp_path, make_info()) as out:
        out.request(**request_row(0.0))
    (tmp_path / "run.json").write_text(make_info(rolled_up=True).model_dump_json())

    with pytest.raises(ObservationError, match=r"requests-main-000001.parquet does not hold the "
                                               r"requests table: missing columns \['count'"):
        load_run(tmp_path)


def test_without_pyarrow_the_writer_falls_back_to_csv(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    assert default_format() == "csv"
    with RunWriter(tmp_path, make_info()) as out:
        out.request(**request_row(0.0))
    # every table gets a file on close, even with no rows, so a finished run never lacks one
    assert parts(tmp_path) == ["events-main-000001.csv", "gauges-main-000001.csv", "requests-main-000001.csv"]
    consolidate(tmp_path)

    assert (tmp_path / "requests.csv").is_file()
    assert load_run(tmp_path).requests.to_dict("records") == [request_row(0.0)]


def test_consolidating_in_parquet_absorbs_an_earlier_csv_file(tmp_path: Path) -> None:
    with RunWriter(tmp_path, make_info(), fmt="csv") as out:
        out.request(**request_row(1.0))
    consolidate(tmp_path, fmt="csv")
    with RunWriter(tmp_path, None, writer_id="late", fmt="parquet") as out:
        out.request(**request_row(0.0))

    consolidate(tmp_path, fmt="parquet")

    assert not (tmp_path / "requests.csv").exists()
    assert load_run(tmp_path).requests["t"].tolist() == [0.0, 1.0]


def test_a_folder_without_run_json_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(RehearseError) as raised:
        load_run(tmp_path)

    assert str(raised.value) == (f"{tmp_path} is not a run folder: run.json is missing "
                                 "(point at the folder an engine wrote, holding run.json)")


def test_an_invalid_run_json_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({**json.loads(make_info().model_dump_json()),
                                                   "status": "done", "seed": "7"}))

    with pytest.raises(RehearseError) as raised:
        consolidate(tmp_path)

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'run.json'} is not a valid run.json: seed: ")
    assert "status: Input should be 'running', 'finished', 'interrupted' or 'incomplete'" in message


def test_a_row_with_wrong_columns_is_refused_at_once(tmp_path: Path) -> None:
    with RunWriter(tmp_path, make_info()) as out:
        row = request_row(0.0)
        del row["domain"]
        with pytest.raises(ObservationError, match=r"missing \['domain'\], unknown \['host'\]"):
            out.request(**row, host="a.example")
        with pytest.raises(ObservationError, match=r"missing \['t'\], unknown none"):
            out.gauge(rps=1.0)


def test_money_that_is_not_whole_fen_is_refused_when_flushed(tmp_path: Path) -> None:
    out = RunWriter(tmp_path, make_info(), flush_rows=2)
    out.request(**request_row(0.0))

    whole = r"requests.payout_fen must hold whole numbers .* got 1\.5"
    with pytest.raises(ObservationError, match=whole):
        out.request(**request_row(1.0, payout_fen=1.5))
    with pytest.raises(ObservationError, match="gauges.paid_fen must hold whole numbers or"):
        out.gauge(t=0.0, paid_fen=2.5)
        out.close()
    assert load_run(tmp_path).info.status == "interrupted"


def test_a_closed_writer_refuses_rows(tmp_path: Path) -> None:
    out = RunWriter(tmp_path, make_info())
    out.close()

    with pytest.raises(ObservationError, match="is closed"):
        out.request(**request_row(0.0))


def test_public_names_are_sorted() -> None:
    assert observations.__all__ == sorted(observations.__all__)


def test_rows_survive_a_write_that_fails(tmp_path, monkeypatch):
    """A flush interrupted mid-write (e.g. a killed greenlet) must not drop the rows it took."""
    from rehearse.observations import writer as writer_module

    calls = {"n": 0}
    real_write = writer_module.write_frame

    def flaky_write(frame, path):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        real_write(frame, path)

    monkeypatch.setattr(writer_module, "write_frame", flaky_write)
    writer = RunWriter(tmp_path, None, writer_id="w1")
    writer.request(**request_row(1.0))
    with pytest.raises(KeyboardInterrupt):
        writer.flush()
    writer.request(**request_row(2.0))
    writer.close()
    assert list(load_run_parts(tmp_path)["t"]) == [1.0, 2.0]


def load_run_parts(folder: Path) -> pd.DataFrame:
    from rehearse.observations.files import read_frame
    from rehearse.observations.layout import part_files

    return pd.concat([read_frame(p, REQUESTS) for p in part_files(folder, "requests")])
