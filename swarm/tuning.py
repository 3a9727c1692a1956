"""One load process tuned to carry thousands of users: what the profile of a 2,000-user persona
run against nginx showed the process spending its CPU on, besides sending requests.

- Connections: keep-alive past file descriptor 1023 (swarm/connections.py).
- Greenlets: gevent records the spawning stack of every greenlet (`track_greenlet_tree`), a
  tenth of the CPU with a script's burst copies each spawned in its own greenlet; nothing in
  the swarm reads that tree.
- Garbage collection: full collections over the start-up heap (Locust, pandas, the scenario)
  took ~165 ms each, a pause every request in flight waits out. What exists when the run
  starts is collected once and frozen out of later collections (`gc.freeze`).

    tune_process()         # once, when the process's runtime is built
    freeze_start_up()      # when the run starts, after start-up
"""

from __future__ import annotations

import gc

from rehearse.swarm.connections import reuse_idle_connections


def tune_process() -> None:
    """Connections kept alive at any descriptor; greenlets spawned without their stack."""
    reuse_idle_connections()
    try:
        import gevent
    except ImportError:
        return
    gevent.config.track_greenlet_tree = False


def freeze_start_up() -> None:
    """Collect the start-up garbage once, then keep what lives on out of later collections."""
    gc.collect()
    gc.freeze()
