"""How many requests of this process may use the database at once.

gunicorn.conf.py gives each worker far more threads than it has database connections: open
websockets hold threads, not connections. But a request may hold two connections at a time (its
session's, plus a short transaction of its own: the session touch and rotation in
blog/auth/sessions.py, a settings read in blog/core/settings.py). With more such requests at once
than half the pool, each can hold one connection and wait for a second that never comes: a pool
deadlock until `pool_timeout` (30 s). The chat benchmark met it at start-up, when every request
misses the settings cache. So a request takes one of (pool_size + max_overflow) // 2 slots before
anything else runs, and waits for a slot (not for a connection) when all are taken; the
websocket gives its slot back once its handshake is done (`release_slot`), and each message a
tab sends takes one for its handler (`slot`). Static files take none.

The probes must answer while the gate is full (a lock on a busy table held every slot for 40 s
once): /healthz touches no database and takes no slot; /readyz waits at most READY_WAIT_SECONDS
for one and otherwise reports the database as busy (a 503 from the probe itself).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from flask import Flask, abort, current_app, g, request

_EXT_KEY = "blog_dbgate"
NO_SLOT_ENDPOINTS = frozenset({"static", "ops.healthz"})
READY_ENDPOINT = "ops.readyz"
READY_WAIT_SECONDS = 0.5


class DatabaseGate:
    def __init__(self, slots: int, wait_seconds: float) -> None:
        self.slots = slots
        self.wait_seconds = wait_seconds
        self._semaphore = threading.BoundedSemaphore(slots)

    def acquire(self, wait_seconds: float | None = None) -> bool:
        wait = self.wait_seconds if wait_seconds is None else wait_seconds
        return self._semaphore.acquire(timeout=wait)

    def release(self) -> None:
        self._semaphore.release()


def init_dbgate(app: Flask) -> None:
    """Register first, before any hook that may read the database (rate limits, maintenance)."""
    options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
    capacity = int(options.get("pool_size", 5)) + max(int(options.get("max_overflow", 10)), 0)
    gate = DatabaseGate(
        slots=max(1, capacity // 2), wait_seconds=float(options.get("pool_timeout", 30))
    )
    app.extensions[_EXT_KEY] = gate

    @app.before_request
    def take_slot() -> None:
        if request.endpoint in NO_SLOT_ENDPOINTS:
            return
        if request.endpoint == READY_ENDPOINT:
            if gate.acquire(READY_WAIT_SECONDS):
                g.dbgate_slot = True
            else:
                g.dbgate_busy = True  # the probe answers "not ready" without the database
            return
        if not gate.acquire():
            abort(503)  # the error page says "try again shortly"
        g.dbgate_slot = True

    @app.teardown_request
    def give_slot(_exc: BaseException | None) -> None:
        release_slot()


def release_slot() -> None:
    """Give this request's slot back early (a websocket, once its handshake is done)."""
    if g.pop("dbgate_slot", False):
        current_app.extensions[_EXT_KEY].release()


@contextlib.contextmanager
def slot() -> Iterator[None]:
    """Hold a slot for a unit of database work outside a request (a tab's message)."""
    gate: DatabaseGate | None = current_app.extensions.get(_EXT_KEY)
    if gate is None:
        yield
        return
    if not gate.acquire():
        raise TimeoutError("no database slot free")
    try:
        yield
    finally:
        gate.release()
