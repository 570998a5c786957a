"""emit(): add an event to the current transaction; trigger the relay after commit."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from blog.extensions import db
from blog.outbox.models import OutboxEvent

log = logging.getLogger(__name__)

_PENDING = "outbox_pending"
# While this key exists a relay is queued and will see new events: commits need not enqueue
# another. The relay deletes it as it starts; the TTL bounds the damage of a lost relay job
# (cron sweeps every 5 s anyway).
TRIGGER_KEY = "blog:outbox:relay-queued"
TRIGGER_TTL_SECONDS = 10


def emit(
    event_type: str,
    *,
    aggregate_type: str,
    aggregate_id: object,
    data: dict[str, Any] | None = None,
) -> OutboxEvent:
    """Record a domain event in the current transaction. Nothing is sent before commit."""
    if "." not in event_type:
        raise ValueError(f"event types are dotted and past tense (user.registered): {event_type!r}")
    row = OutboxEvent(
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        event_data=data or {},
    )
    db.session.add(row)
    db.session.info[_PENDING] = True
    return row


def trigger_relay_on_commit() -> None:
    """Enqueue the relay once if none is queued. Best effort: cron sweeps every 5 s."""
    from blog.core.redis import get_redis
    from blog.jobs.queues import get_queue

    try:
        if get_redis().set(TRIGGER_KEY, "1", nx=True, ex=TRIGGER_TTL_SECONDS):
            get_queue("outbox").enqueue(
                "blog.outbox.relay.relay_outbox", job_timeout=120, result_ttl=60, failure_ttl=3600
            )
    except Exception as exc:  # noqa: BLE001 - the events are safe in PostgreSQL either way
        log.warning("could not trigger the outbox relay (cron will): %s", exc)


def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, False)
    if pending and has_app_context() and current_app.config.get("OUTBOX_TRIGGER_ON_COMMIT", True):
        trigger_relay_on_commit()


def init_outbox_hooks() -> None:
    """Listen on every Session (Flask-SQLAlchemy's included). Idempotent."""
    if not sa_event.contains(Session, "after_commit", _after_commit):
        sa_event.listen(Session, "after_commit", _after_commit)
        sa_event.listen(Session, "after_soft_rollback", _after_soft_rollback)


def _after_soft_rollback(session: Session, previous_transaction: Any) -> None:
    # Only the outermost rollback discards the events; a rolled-back savepoint leaves the
    # flag set, which at worst triggers a relay that finds nothing: never a missed one.
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
