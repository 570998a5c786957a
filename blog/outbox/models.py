"""Outbox rows, their archive, and the ledger that makes handlers idempotent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from blog.core.db import Base, UUIDPrimaryKey, utcnow


class _EventColumns:
    aggregate_type: Mapped[str] = mapped_column(String(50))
    aggregate_id: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(100))
    event_data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    published_at: Mapped[datetime | None]
    retry_count: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)


def build_message(event: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The message handlers receive, from an OutboxEvent or a claimed row of its columns."""
    return {
        "id": str(event.id),
        "type": event.event_type,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "data": data,
        "occurred_at": event.occurred_at.isoformat(),
        "position": event.position,
    }


class OutboxEvent(UUIDPrimaryKey, _EventColumns, Base):
    __tablename__ = "domain_event_outbox"
    __table_args__ = (
        # The relay's claim walks this in `position` order and its per-aggregate check scans
        # it: both cost what is pending, not the 30 days of published events the table keeps
        # (with the old (next_attempt_at, position) index every claim scanned those).
        Index(
            "ix_domain_event_outbox_pending",
            "position",
            postgresql_where=text("published_at IS NULL"),
        ),
        # Per-aggregate order checks and "what happened to this post".
        Index("ix_domain_event_outbox_aggregate", "aggregate_type", "aggregate_id", "position"),
        Index(
            "ix_domain_event_outbox_published_at",
            "published_at",
            postgresql_where=text("published_at IS NOT NULL"),
        ),
    )

    # Insertion order. Events of one aggregate are written under that aggregate's row lock (or
    # in one transaction), so `position` is their causal order; the relay keeps it.
    position: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    # Set after the relay gave up; `flask outbox retry` (or the admin page) clears it.
    parked_at: Mapped[datetime | None]

    def as_message(self) -> dict[str, Any]:
        """What handlers receive: immutable facts about the event, never live ORM state."""
        return build_message(self, self.event_data)


class ArchivedEvent(UUIDPrimaryKey, _EventColumns, Base):
    """Published events older than 30 days, moved here by the daily archive job."""

    __tablename__ = "domain_event_outbox_archive"
    __table_args__ = (
        Index("ix_domain_event_outbox_archive_aggregate", "aggregate_type", "aggregate_id"),
    )

    position: Mapped[int] = mapped_column(BigInteger, unique=True)
    archived_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)


class HandlerRun(UUIDPrimaryKey, Base):
    """One row per (event, handler) that completed: a re-delivered event is skipped."""

    __tablename__ = "outbox_handler_runs"
    __table_args__ = (UniqueConstraint("event_id", "handler"),)

    event_id: Mapped[uuid.UUID]
    handler: Mapped[str] = mapped_column(String(200))
    completed_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
