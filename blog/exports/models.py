"""A person's request for a copy of their data, and the archive it produced.

One row per request: requested → building → ready → expired, or → failed. The archive lives in
the uploads storage under `exports/<id>.zip` while the row is ready; the cron job deletes it at
expires_at and marks the row expired. Rows go with the account (ON DELETE CASCADE) and when
it is deleted (blog/exports/handlers.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from blog.core.db import Base, UUIDPrimaryKey, utcnow

STATUSES = ("requested", "building", "ready", "failed", "expired")
# How long the download link works once the archive is ready.
LINK_LIFETIME = timedelta(hours=48)
# One request per person in this window (counted from the last request, whatever became of it
# except a failure: a failed build may be asked for again at once).
REQUEST_INTERVAL = timedelta(hours=24)


class IllegalTransition(ValueError):
    """A move between states that the lifecycle does not allow."""


class DataExport(UUIDPrimaryKey, Base):
    __tablename__ = "data_exports"
    __table_args__ = (
        CheckConstraint(
            "status IN ('requested', 'building', 'ready', 'failed', 'expired')", name="status"
        ),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
        # An archive exists exactly while the row is ready.
        CheckConstraint("(status = 'ready') = (blob_key IS NOT NULL)", name="blob_iff_ready"),
        CheckConstraint(
            "status <> 'ready' OR (finished_at IS NOT NULL AND expires_at IS NOT NULL)",
            name="ready_has_times",
        ),
        # The account page reads a person's latest request; one-per-day reads the same.
        Index("ix_data_exports_user_id_requested_at", "user_id", "requested_at"),
        # The cron job's sweep of ready archives past their time.
        Index(
            "ix_data_exports_ready_expires_at",
            "expires_at",
            postgresql_where=text("status = 'ready'"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="requested", server_default="requested")
    progress: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    requested_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    blob_key: Mapped[str | None] = mapped_column(String(200))
    blob_size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(500))

    @property
    def in_progress(self) -> bool:
        return self.status in ("requested", "building")

    def is_expired(self, now: datetime) -> bool:
        return self.status == "expired" or (self.expires_at is not None and self.expires_at <= now)

    def start(self, now: datetime) -> None:
        if self.status not in ("requested", "building"):
            raise IllegalTransition(f"cannot build an export that is {self.status}")
        self.status = "building"
        self.progress = 0
        self.started_at = now

    def finish(self, *, key: str, size: int, now: datetime) -> None:
        if self.status != "building":
            raise IllegalTransition(f"cannot finish an export that is {self.status}")
        self.status = "ready"
        self.progress = 100
        self.blob_key = key
        self.blob_size = size
        self.finished_at = now
        self.expires_at = now + LINK_LIFETIME

    def fail(self, reason: str, now: datetime) -> None:
        if self.status not in ("requested", "building"):
            raise IllegalTransition(f"cannot fail an export that is {self.status}")
        self.status = "failed"
        self.error = reason[:500]
        self.finished_at = now

    def expire(self) -> None:
        if self.status != "ready":
            raise IllegalTransition(f"cannot expire an export that is {self.status}")
        self.status = "expired"
        self.blob_key = None
