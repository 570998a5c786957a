"""Move published events older than 30 days to the archive table, in batches."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from blog.core.db import utcnow
from blog.extensions import db

ARCHIVE_AFTER = timedelta(days=30)
ARCHIVE_BATCH = 5_000

_COLUMNS = (
    "id, position, aggregate_type, aggregate_id, event_type, event_data, occurred_at, "
    "published_at, retry_count, last_error"
)

_MOVE_BATCH = text(
    f"""
    WITH moved AS (
        DELETE FROM domain_event_outbox
        WHERE id IN (
            SELECT id FROM domain_event_outbox
            WHERE published_at < :cutoff
            ORDER BY position
            LIMIT :batch
            FOR UPDATE SKIP LOCKED
        )
        RETURNING {_COLUMNS}
    )
    INSERT INTO domain_event_outbox_archive ({_COLUMNS}, archived_at)
    SELECT {_COLUMNS}, now() FROM moved
    """  # noqa: S608 - the interpolated names are constants above, not input
)


def archive_published_events() -> int:
    """Archive in batches of 5,000, one commit each, so locks stay short. Returns the count."""
    cutoff = utcnow() - ARCHIVE_AFTER
    total = 0
    while True:
        moved = db.session.execute(_MOVE_BATCH, {"cutoff": cutoff, "batch": ARCHIVE_BATCH}).rowcount  # type: ignore[attr-defined]
        db.session.commit()
        total += moved
        if moved < ARCHIVE_BATCH:
            return total
