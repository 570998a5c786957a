"""Uploads: inspect, store (deduplicated), record, delete. Services never commit.

The blob of a checksum is guarded by a transaction-level advisory lock on that checksum:
an upload holds it from before it puts the blob until its row commits, and the handler that
deletes an unreferenced blob takes it before it looks for rows. So a blob is never deleted
under an upload of the same bytes that has not committed yet.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import BinaryIO

from sqlalchemy import func, select, text

from blog.auth.models import User
from blog.core.settings import get_setting, register_setting
from blog.extensions import db
from blog.outbox.events import emit
from blog.uploads.inspect import UploadRefused, display_name, has_usable_name, inspect_upload
from blog.uploads.models import FileMetadata
from blog.uploads.storage import Storage, blob_key

UPLOADS = register_setting(
    "uploads",
    "Uploads: largest file in bytes, and each user's storage quota in bytes.",
    {"max_bytes": 10 * 1024 * 1024, "quota_bytes": 500 * 1024 * 1024},
    {
        "type": "object",
        "properties": {
            "max_bytes": {"type": "integer", "minimum": 1024, "maximum": 1 << 30},
            "quota_bytes": {"type": "integer", "minimum": 0, "maximum": 1 << 40},
        },
        "additionalProperties": False,
    },
)


# Multipart framing and the small fields beside the file (csrf token, alt text, purpose).
FORM_OVERHEAD_BYTES = 64 * 1024
_LOCK_NAMESPACE = 0x55504C44  # "UPLD": the first key of pg_advisory_xact_lock(int, int)


def upload_limits() -> tuple[int, int]:
    """(largest file, quota per user) in bytes, from the `uploads` runtime setting."""
    settings = get_setting("uploads")
    return int(settings["max_bytes"]), int(settings["quota_bytes"])


def lock_checksum(sha256: str) -> None:
    """Hold the blob of this checksum until the transaction ends (see the module docstring)."""
    key = int.from_bytes(bytes.fromhex(sha256[:8]), "big", signed=True)
    db.session.execute(
        text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": _LOCK_NAMESPACE, "key": key}
    )


def used_bytes(user_id: uuid.UUID) -> int:
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(FileMetadata.size_bytes), 0)).where(
                FileMetadata.uploader_id == user_id
            )
        )
        or 0
    )


def upload_file(
    user: User,
    stream: BinaryIO,
    *,
    client_name: str | None,
    purpose: str,
    storage: Storage,
    images_only: bool = False,
) -> FileMetadata:
    """Check, re-encode and store one upload for `user`, and record it with a file.uploaded
    event. Raises UploadRefused (with its HTTP status) for a file we do not take.

    Precondition: `stream` is seekable (Werkzeug spools a large part to a temporary file).
    """
    if not has_usable_name(client_name):
        raise UploadRefused(
            "The file has no usable name (it is empty, “.” or “..”). Rename it and try again.",
            400,
        )
    max_bytes, quota = upload_limits()
    stream.seek(0, 2)
    if stream.tell() > max_bytes:
        raise UploadRefused(f"The file is larger than {_mb(max_bytes)}.", 413)
    stream.seek(0)
    if not stream.read(1):
        raise UploadRefused("The file is empty.", 422)
    stream.seek(0)
    inspected = inspect_upload(stream, images_only=images_only)
    try:
        # One upload at a time per person past this point, so two at once cannot both fit
        # under the quota.
        db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
        if used_bytes(user.id) + inspected.size > quota:
            raise UploadRefused(
                f"This file would take you over your storage quota of {_mb(quota)}. "
                "Delete some of your uploads to make room.",
                413,
            )
        key = blob_key(inspected.sha256)
        lock_checksum(inspected.sha256)
        storage.put(key, inspected.path, inspected.mime_type)
        row = FileMetadata(
            uploader_id=user.id,
            file_name=display_name(client_name, inspected.mime_type),
            mime_type=inspected.mime_type,
            size_bytes=inspected.size,
            storage_key=key,
            checksum_sha256=inspected.sha256,
            width=inspected.width,
            height=inspected.height,
            purpose=purpose,
        )
        db.session.add(row)
        db.session.flush()
        emit(
            "file.uploaded",
            aggregate_type="file",
            aggregate_id=row.id,
            data={
                "file_id": str(row.id),
                "uploader_id": str(user.id),
                "checksum": row.checksum_sha256,
                "mime_type": row.mime_type,
                "purpose": purpose,
            },
        )
        return row
    finally:
        with contextlib.suppress(OSError):
            inspected.path.unlink()


def delete_file(file: FileMetadata) -> None:
    """Delete one upload's row; its blob goes after commit if no other row shares it
    (file.deleted → blog.uploads.handlers.remove_unreferenced_blob). An avatar that was this
    file is unset by the foreign key (ON DELETE SET NULL)."""
    emit(
        "file.deleted",
        aggregate_type="file",
        aggregate_id=file.id,
        data={"file_id": str(file.id), "checksum": file.checksum_sha256},
    )
    db.session.delete(file)
    db.session.flush()


def forget_upload(file_id: uuid.UUID, checksum: str) -> None:
    """After an upload's row was rolled back (its use was refused once it was stored): the
    blob goes after commit unless another row shares it, as for a deleted upload."""
    emit(
        "file.deleted",
        aggregate_type="file",
        aggregate_id=file_id,
        data={"file_id": str(file_id), "checksum": checksum},
    )


def set_avatar(user: User, file: FileMetadata) -> None:
    """Make `file` (an avatar upload of this user) their avatar; the previous uploaded
    avatar, if any, is deleted."""
    previous = user.avatar_file_id
    user.avatar_file_id = file.id
    db.session.flush()
    if previous is not None and previous != file.id:
        old = db.session.get(FileMetadata, previous)
        if old is not None and old.uploader_id == user.id and old.purpose == "avatar":
            delete_file(old)


def remove_avatar(user: User) -> bool:
    """Back to the generated avatar; the uploaded one is deleted. False if there was none."""
    if user.avatar_file_id is None:
        return False
    old = db.session.get(FileMetadata, user.avatar_file_id)
    user.avatar_file_id = None
    db.session.flush()
    if old is not None and old.uploader_id == user.id:
        delete_file(old)
    return True


def own_files(user: User) -> list[FileMetadata]:
    return list(
        db.session.scalars(
            select(FileMetadata)
            .where(FileMetadata.uploader_id == user.id)
            .order_by(FileMetadata.created_at.desc(), FileMetadata.id.desc())
        )
    )


def _mb(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    return f"{size / 1024:g} KB"


def human_size(size: int) -> str:
    """1.5 MB, 320 KB, 12 bytes: for people."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"
