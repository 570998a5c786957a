"""Asking for a data download, reading its state, and purging a person's archives.

Services add and flush; the view commits. The build runs in blog/exports/jobs.py.

Events (this module owns their payloads):
- data_export.requested  aggregate data_export; data {export_id, user_id}
- data_export.ready      aggregate data_export; data {export_id, user_id}
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from blog.auth.models import User
from blog.core.db import utcnow
from blog.exports.models import REQUEST_INTERVAL, DataExport
from blog.extensions import db
from blog.outbox.events import emit
from blog.uploads.storage import get_storage

log = logging.getLogger(__name__)


class ExportRefused(Exception):
    """Another download was asked for less than a day ago."""

    def __init__(self, next_at: datetime) -> None:
        self.next_at = next_at
        when = next_at.strftime("%-d %b %Y, %H:%M UTC")
        super().__init__(
            f"You can ask for one download of your data a day: the next one after {when}."
        )


def latest_export(user_id: uuid.UUID) -> DataExport | None:
    """The person's most recent request, whatever its state (the account page shows it)."""
    return db.session.scalars(
        select(DataExport)
        .where(DataExport.user_id == user_id)
        .order_by(DataExport.requested_at.desc(), DataExport.id.desc())
        .limit(1)
    ).first()


def next_request_at(user_id: uuid.UUID) -> datetime | None:
    """When the person may ask again, or None if they may now. A failed build does not count."""
    last = db.session.scalar(
        select(DataExport.requested_at)
        .where(
            DataExport.user_id == user_id,
            DataExport.status != "failed",
            DataExport.requested_at > utcnow() - REQUEST_INTERVAL,
        )
        .order_by(DataExport.requested_at.desc())
        .limit(1)
    )
    return last + REQUEST_INTERVAL if last is not None else None


def request_export(user: User) -> DataExport:
    """Start a download of `user`'s data: a row and a data_export.requested event, whose
    handler queues the build. Raises ExportRefused within a day of the last request."""
    # One request at a time per person: two clicks at once cannot both pass the check.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    next_at = next_request_at(user.id)
    if next_at is not None:
        raise ExportRefused(next_at)
    export = DataExport(user_id=user.id, status="requested", progress=0, requested_at=utcnow())
    db.session.add(export)
    db.session.flush()
    emit(
        "data_export.requested",
        aggregate_type="data_export",
        aggregate_id=export.id,
        data={"export_id": str(export.id), "user_id": str(user.id)},
    )
    return export


def purge_exports_of(user_id: uuid.UUID) -> int:
    """Delete every archive of this person from storage and their export rows (an account
    deleted). Idempotent: a missing blob is no error. Returns how many rows went."""
    rows = db.session.execute(
        delete(DataExport).where(DataExport.user_id == user_id).returning(DataExport.blob_key)
    ).all()
    storage = get_storage()
    for (key,) in rows:
        if key:
            storage.delete(key)
    return len(rows)


@dataclass(frozen=True)
class ExportState:
    """What the account page says about downloads: the latest request and when the next may be."""

    export: DataExport | None
    next_at: datetime | None
    now: datetime

    @property
    def can_request(self) -> bool:
        return self.next_at is None

    @property
    def downloadable(self) -> bool:
        e = self.export
        return e is not None and e.status == "ready" and not e.is_expired(self.now)


def export_state(user_id: uuid.UUID) -> ExportState:
    """Two indexed reads (ix_data_exports_user_id_requested_at), whatever the history."""
    return ExportState(latest_export(user_id), next_request_at(user_id), utcnow())
