"""Run a callback after the current transaction commits; drop it if the transaction rolls back.

For side effects that must follow a commit made elsewhere (a handler job's commit is made by
the outbox's run_handler): a Redis publish, a job enqueue. Like Django's transaction.on_commit.
The callback runs with the session already committed, so it must not use that session: it
gets fresh connections (db.engine) if it needs the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_KEY = "after_commit_callbacks"


def call_after_commit(fn: Callable[[], Any]) -> None:
    """Run `fn()` once the current db.session transaction commits (never if it rolls back)."""
    from blog.extensions import db

    _install()
    db.session().info.setdefault(_KEY, []).append(fn)


def _after_commit(session: Session) -> None:
    for fn in session.info.pop(_KEY, []):
        try:
            fn()
        except Exception:
            log.exception("after-commit callback %r failed", fn)


def _after_soft_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_KEY, None)


def _install() -> None:
    if not sa_event.contains(Session, "after_commit", _after_commit):
        sa_event.listen(Session, "after_commit", _after_commit)
        sa_event.listen(Session, "after_soft_rollback", _after_soft_rollback)
