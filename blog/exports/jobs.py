"""The build of a data download (an RQ job on the `default` queue, run by the forking worker)
and the periodic sweep that removes archives past their time. Each commits its own work.

The build writes the ZIP to a temporary file of the worker, then puts it in the uploads
storage (local disk or S3), where any web process can read it for the download.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
import uuid
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from rq import Queue
from sqlalchemy import select, update

from blog.auth.models import User
from blog.core.db import utcnow
from blog.exports.models import DataExport
from blog.exports.sections import SECTIONS, Section
from blog.exports.services import purge_exports_of
from blog.extensions import db
from blog.outbox.events import emit
from blog.uploads.storage import export_key, get_storage

log = logging.getLogger(__name__)

BUILD_TIMEOUT = 1800
# A build that has not moved for this long died with its worker: the sweep queues it again.
STALE_AFTER = timedelta(seconds=BUILD_TIMEOUT + 300)
# A request still waiting this long lost its enqueue (best effort after commit): queued again.
UNQUEUED_AFTER = timedelta(minutes=5)
SWEEP_BATCH = 200


def build_job_data(export_id: uuid.UUID | str) -> Any:
    return Queue.prepare_data(
        build_export,
        (str(export_id),),
        # One job per export: a second enqueue (the sweep, a redelivered event) replaces the
        # queued one instead of building twice.
        job_id=f"data-export-{export_id}",
        # No retries: a failed build marks its row failed, and the person may ask again at
        # once (a failure does not count against the one a day).
        timeout=BUILD_TIMEOUT,
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
    )


def enqueue_builds(queue: Queue, export_ids: list[uuid.UUID | str]) -> None:
    """Queue the builds in one Redis round trip. After commit only."""
    jobs = [build_job_data(export_id) for export_id in export_ids]
    if jobs:
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):  # pragma: no cover - no section yields bytes today
        return value.hex()
    return str(value)


def _dump(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, indent=2)


def _write_section(archive: zipfile.ZipFile, section: Section, user_id: uuid.UUID) -> int:
    """Stream the section's rows into `<name>.json` (spooled to disk: the ZIP takes one open
    entry at a time, and a section's attachments go into it as its rows pass)."""
    count = 0
    with tempfile.TemporaryFile("w+b") as spool:
        if not section.single:
            spool.write(b"[")
        for row in section.rows(user_id):
            attachments = list(section.attach(row)) if section.attach else []
            if section.single:
                spool.write(_dump(row).encode())
            else:
                spool.write((b"," if count else b"") + b"\n" + _dump(row).encode())
            count += 1
            for path, content in attachments:
                if isinstance(content, bytes):
                    archive.writestr(path, content)
                    continue
                try:
                    source = content()
                except FileNotFoundError:
                    log.warning("export of %s: %s is missing from storage", user_id, path)
                    continue
                with source, archive.open(path, "w") as target:
                    shutil.copyfileobj(source, target, 64 * 1024)
        if section.single and not count:
            spool.write(b"null")
        if not section.single:
            spool.write(b"\n]\n" if count else b"]\n")
        spool.seek(0)
        with archive.open(f"{section.name}.json", "w") as target:
            shutil.copyfileobj(spool, target, 64 * 1024)
    return count


def readme_text(sections: list[Section], *, user_name: str, made_at: datetime) -> str:
    lines = [
        f"Your data from this site, for {user_name}, made {made_at:%Y-%m-%d %H:%M} UTC.",
        "",
        "Each .json file is UTF-8 JSON; times are ISO 8601 in UTC.",
        "",
    ]
    for section in sections:
        lines.append(f"{section.name}.json: {section.about}")
    lines += [
        "",
        "Only what is yours is here: in conversations, the messages of the other people are",
        "theirs and are left out.",
        "",
    ]
    return "\n".join(lines)


def _set_progress(export_id: uuid.UUID, progress: int) -> None:
    db.session.execute(
        update(DataExport)
        .where(DataExport.id == export_id, DataExport.status == "building")
        .values(progress=progress)
    )
    db.session.commit()


def build_export(export_id: str) -> str:
    """Build the ZIP of one request and make it ready; idempotent (a ready, failed or expired
    request, or one another job is building right now, is left as it is)."""
    now = utcnow()
    export = db.session.scalars(
        select(DataExport).where(DataExport.id == uuid.UUID(export_id)).with_for_update()
    ).first()
    if export is None or not export.in_progress:
        db.session.rollback()
        return "nothing to do"
    if export.status == "building" and export.started_at and export.started_at > now - STALE_AFTER:
        db.session.rollback()
        return "already building"
    user = db.session.get(User, export.user_id)
    if user is None or user.deleted_at is not None:
        db.session.delete(export)
        db.session.commit()
        return "account deleted"
    export.start(now)
    db.session.commit()
    user_id, user_name, export_uuid = user.id, user.user_name, export.id

    path = Path(tempfile.mkstemp(prefix="blog-export-", suffix=".zip")[1])
    try:
        try:
            with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(
                    "README.txt", readme_text(SECTIONS, user_name=user_name, made_at=now)
                )
                for done, section in enumerate(SECTIONS, start=1):
                    _write_section(archive, section, user_id)
                    # Rows are read in their own short statements; the progress commits.
                    _set_progress(export_uuid, min(99, done * 100 // (len(SECTIONS) + 1)))
            key = export_key(export_uuid)
            get_storage().put(key, path, "application/zip")
            size = path.stat().st_size
        except Exception as exc:
            db.session.rollback()
            export = db.session.get(DataExport, export_uuid)
            if export is not None and export.in_progress:
                export.fail(f"{type(exc).__name__}: {exc}", utcnow())
                db.session.commit()
            raise
    finally:
        with contextlib.suppress(OSError):
            path.unlink()

    export = db.session.get(DataExport, export_uuid, with_for_update=True)
    deleted = db.session.scalar(select(User.deleted_at).where(User.id == user_id))
    if export is None or deleted is not None or export.status != "building":
        # The account went while we built (its handler purged the rows): nothing may stay.
        get_storage().delete(key)
        if export is not None and deleted is not None:
            db.session.delete(export)
        db.session.commit()
        return "discarded"
    export.finish(key=key, size=size, now=utcnow())
    emit(
        "data_export.ready",
        aggregate_type="data_export",
        aggregate_id=export.id,
        data={"export_id": str(export.id), "user_id": str(user_id)},
    )
    db.session.commit()
    return f"ready: {size} bytes"


def expire_data_exports(now: datetime | None = None) -> int:
    """Delete the archives past their time from storage and mark them expired; purge the
    exports of deleted accounts that a race left behind; queue again the builds whose job was
    lost. Idempotent; returns how many archives went."""
    moment = now or utcnow()
    storage = get_storage()
    expired = 0
    while True:
        rows = db.session.scalars(
            select(DataExport)
            .where(DataExport.status == "ready", DataExport.expires_at <= moment)
            .order_by(DataExport.expires_at)
            .limit(SWEEP_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        for export in rows:
            if export.blob_key:
                storage.delete(export.blob_key)
            export.expire()
        db.session.commit()
        expired += len(rows)
        if len(rows) < SWEEP_BATCH:
            break

    leftover = db.session.scalars(
        select(DataExport.user_id)
        .join(User, User.id == DataExport.user_id)
        .where(User.deleted_at.is_not(None))
        .distinct()
        .limit(SWEEP_BATCH)
    ).all()
    for user_id in leftover:
        purge_exports_of(user_id)
    db.session.commit()

    lost = db.session.scalars(
        select(DataExport.id).where(
            (
                (DataExport.status == "requested")
                & (DataExport.requested_at <= moment - UNQUEUED_AFTER)
            )
            | ((DataExport.status == "building") & (DataExport.started_at <= moment - STALE_AFTER))
        )
    ).all()
    db.session.commit()
    if lost:
        from blog.jobs.queues import get_queue

        enqueue_builds(get_queue("default"), list(lost))
    return expired
