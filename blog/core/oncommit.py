"""Run a callback after the current transaction commits; drop it if the transaction rolls back.

For side effects that must follow a commit made elsewhere (a handler job's commit is made by
the outbox's run_handler): a Redis publish, a job enqueue. Like Django's transaction.on_commit.
The callback runs with the session already committed, so it must not use that session: it
gets fresh connections (db.engine) if it needs the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_KEY = "after_commit_callbacks"
_ONCE = "after_commit_once"

T = TypeVar("T", bound=Callable[[], Any])


def call_after_commit(fn: Callable[[], Any]) -> None:
    """Run `fn()` once the current db.session transaction commits (never if it rolls back)."""
    from blog.extensions import db

    _install()
    db.session().info.setdefault(_KEY, []).append(fn)


def after_commit_once(key: str, factory: Callable[[], T]) -> T:
    """The callable registered under `key` for the current transaction: made by `factory()`
    and queued with call_after_commit on first use, the same object afterwards.

    For work that gathers what a transaction did and sends it once after the commit: a batch of
    events notifying a thousand people costs one badge query and one Redis round trip, not one
    per event.
    """
    from blog.extensions import db

    once = db.session().info.setdefault(_ONCE, {})
    found = once.get(key)
    if found is None:
        found = once[key] = factory()
        call_after_commit(found)
    return found


def _after_commit(session: Session) -> None:
    session.info.pop(_ONCE, None)
    for fn in session.info.pop(_KEY, []):
        try:
            fn()
        except Exception:
            log.exception("after-commit callback %r failed", fn)


def _after_soft_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_KEY, None)
        session.info.pop(_ONCE, None)


def _install() -> None:
    if not sa_event.contains(Session, "after_commit", _after_commit):
        # First among the after-commit listeners (the outbox's relay trigger is registered
        # earlier, at start-up): what the committer is waiting to see — a chat message on every
        # tab, a badge — goes out before the relay's enqueue round trips.
        sa_event.listen(Session, "after_commit", _after_commit, insert=True)
        sa_event.listen(Session, "after_soft_rollback", _after_soft_rollback)
