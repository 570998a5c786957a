"""What operators see of the outbox and do to it (the CLI and the admin page share these)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from blog.core.db import utcnow
from blog.extensions import db
from blog.outbox.models import OutboxEvent


def outbox_stats() -> dict[str, object]:
    """Pending and parked counts, the oldest pending age, and the last minute's throughput."""
    now = utcnow()
    pending = OutboxEvent.published_at.is_(None) & OutboxEvent.parked_at.is_(None)
    row = db.session.execute(
        select(
            func.count().filter(pending),
            func.count().filter(OutboxEvent.parked_at.is_not(None)),
            func.min(OutboxEvent.occurred_at).filter(pending),
            func.count().filter(OutboxEvent.published_at >= now - timedelta(minutes=1)),
        )
    ).one()
    oldest = row[2]
    return {
        "pending": row[0],
        "parked": row[1],
        "oldest_pending_age_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
        "published_last_minute": row[3],
    }


def parked_events(limit: int = 50) -> list[OutboxEvent]:
    """The parked events, oldest first, with their last error."""
    return list(
        db.session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.parked_at.is_not(None), OutboxEvent.published_at.is_(None))
            .order_by(OutboxEvent.occurred_at)
            .limit(limit)
        )
    )


def unpark_events(event_id: uuid.UUID | None = None) -> int:
    """Make parked events (one, or all) due again; returns how many."""
    stmt = (
        update(OutboxEvent)
        .where(OutboxEvent.parked_at.is_not(None), OutboxEvent.published_at.is_(None))
        .values(parked_at=None, retry_count=0, next_attempt_at=utcnow())
    )
    if event_id is not None:
        stmt = stmt.where(OutboxEvent.id == event_id)
    return int(db.session.execute(stmt).rowcount)  # type: ignore[attr-defined]
