"""The swarm's locustfile with a starved load generator: a greenlet that holds the event loop for
600 ms of every 700 (as a load process on a saturated core would). Only for the live tests
(tests/test_peak_live.py, tests/test_check_cmd.py). With STARVE_RUN set, only the run whose
folder has that name is starved (the main job's peak phase: "peak")."""

import os
import time
from pathlib import Path

import gevent
from locust import events

from rehearse.swarm.locustfile import *  # noqa: F401,F403  (the swarm's classes and listeners)

HOLD_S, PAUSE_S = 0.6, 0.1


@events.test_start.add_listener
def _starve(environment, **_kwargs) -> None:
    only = os.environ.get("STARVE_RUN")
    options = environment.parsed_options  # the run folder: given as a flag, or the spec's own folder
    folder = options.run_dir or (Path(options.rehearse_spec).parent if options.rehearse_spec else "")
    if only and Path(folder).name != only:
        return
    def hog() -> None:
        while True:
            end = time.perf_counter() + HOLD_S
            while time.perf_counter() < end:  # busy: no other greenlet runs meanwhile
                pass
            gevent.sleep(PAUSE_S)

    environment.rehearse_hog = gevent.spawn(hog)
