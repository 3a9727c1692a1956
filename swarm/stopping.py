"""How a load process stops: on a stop signal (Ctrl-C, SIGTERM, SIGHUP) or when the command that
started it dies, the way a run's end does: no request goes out from then on, the users stop,
the rows are saved and the run marked."""

from __future__ import annotations

import logging
import os
import signal

import gevent
from locust.runners import MasterRunner

log = logging.getLogger("rehearse.swarm")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
WATCH_S = 0.5  # how often a load process checks that the command that started it is alive
ENVIRONMENT: dict = {}  # the Locust environment this process runs, for the signal handler


def stop_signal(signum, _frame) -> None:
    """Ctrl-C, SIGTERM or SIGHUP: stop the way the run's end does (users stopped, rows saved,
    the run marked), from a greenlet of its own: the handler itself must not block or raise.
    Locust's own handlers would close the observations while users still play (its quitting
    event comes before it stops them) and, in web-UI mode, never exit (SIGTERM) or raise
    KeyboardInterrupt in whichever user was running (Ctrl-C); this one replaces them. A second
    signal while stopping changes nothing: the users' stop timeout bounds the stop."""
    environment = ENVIRONMENT.get("current")
    if environment is not None:
        gevent.spawn(stop_cleanly, environment, f"stopped by {signal.Signals(signum).name}")


def take_stop_signals() -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, stop_signal)


def stop_cleanly(environment, reason: str) -> None:
    """End this process's part of the run: no request goes out from now on, the users stop,
    then Locust's main loop ends (the runner's greenlet, or the web UI's), so Locust shuts down
    as after a run's end: quitting, the run folder saved and marked, exit."""
    if environment.rehearse_stopping:
        return
    environment.rehearse_stopping = True
    runtime = getattr(environment, "rehearse", None)
    if runtime is not None:
        runtime.begin_stop(reason)
    log.info("rehearse: %s: stopping", reason)
    try:
        environment.runner.quit()
    finally:
        if environment.web_ui is not None:
            environment.web_ui.stop()
    if isinstance(environment.runner, MasterRunner) and (runtime is None or runtime.started is None):
        # A master still waiting for its workers is in Locust's start-up loop, which nothing
        # ends: nothing was measured, so say so in run.json and leave (the workers were told).
        if runtime is not None:
            runtime.close(interrupted=True)
        logging.shutdown()
        os._exit(environment.process_exit_code or 0)


def watch_parent(environment) -> None:
    """Stop within a second of the command that started this process dying (SIGKILL included:
    then this process is handed to another parent), and take the stop signals once Locust has
    installed its own handler (after start-up)."""
    parent = os.getppid()
    while True:
        gevent.sleep(WATCH_S)
        take_stop_signals()
        if parent != 1 and os.getppid() != parent:
            stop_cleanly(environment, "the command that started this load process is gone")
            return
