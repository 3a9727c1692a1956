"""The swarm's status file (swarm/status.py): what a load process writes each second and the
command reads for its progress bar, in one typed shape."""

from __future__ import annotations

import math

from rehearse.swarm.status import STATUS_FILE, SwarmStatus

ROW = {"t": 12.0, "active_users": 40, "rps": 180.0, "slots": 64, "paid_fen": 12_345}


def test_what_a_load_process_writes_the_command_reads_back(tmp_path):
    written = SwarmStatus.of(ROW, elapsed_s=3.5, duration_s=20.0, requests=900, failures=2)
    written.write(tmp_path / "run")
    assert SwarmStatus.read(tmp_path / "run") == written
    assert (written.active_users, written.rps, written.paid_fen) == (40, 180.0, 12_345)


def test_no_status_yet_or_a_file_that_is_not_one_reads_as_none(tmp_path):
    assert SwarmStatus.read(tmp_path) is None
    for text in ("", "{", '{"elapsed_s": 1}', '{"elapsed_s": NaN}'):
        (tmp_path / STATUS_FILE).write_text(text)
        assert SwarmStatus.read(tmp_path) is None, text


def test_a_targets_paid_figure_that_is_not_a_number_is_not_shown():
    for paid in ("5043", None, math.inf, True, [1]):
        status = SwarmStatus.of({**ROW, "paid_fen": paid}, 1.0, 20.0, 10, 0)
        assert status.paid_fen is None, paid

