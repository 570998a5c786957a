"""Keep the garbage collector off the objects a long-running process made at start-up.

A worker or web process imports the app once (~155,000 objects: SQLAlchemy's metadata and
compiled caches, Jinja, Flask, RQ...) and keeps them for its whole life. CPython's full (oldest
generation) collection walks every one of them each time it runs, and what triggers it is
allocation: a job that writes 1,000 notifications allocates enough to set one off every few
jobs. Measured in the `notifications` worker (benchmarks/notifications.py with a gc callback):
each full collection took 80-95 ms and freed a few hundred objects; after gc.freeze() at start-up
it takes ~2 ms, and the 1,000-follower fan-out went from ~31 to ~37 jobs/s. The same pauses hit
a web worker's socket threads (chat latency).

gc.freeze() moves everything alive now into a permanent generation that collections skip (the
objects are still freed normally by reference counting). Call it once the app and the process's
long-lived machinery exist, and before a forking worker forks (its children then also leave the
parent's pages unwritten: Instagram's reason for it).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect once, then exempt everything alive from future collections. Returns how many
    objects were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("gc: %d start-up objects frozen", frozen)
    return frozen
