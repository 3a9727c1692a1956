"""Judging runs: the launch gates over a run folder and the scenario's criteria (`gates.py`, the
payout gate from the harness's own rows, the peak's steps, the live load against the simulator's,
the drills), each a verdict with its evidence (`verdicts.py`), and the judge that brings them to
one judgement and the answers a team reads first (`judge.py`, `answers.py`). Rendering that
judgement (HTML, Markdown, JUnit, JSON, plots) is `reports/`."""
