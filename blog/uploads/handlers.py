"""Outbox handlers of uploads: thumbnails after an upload, blob removal after the last
reference goes. Idempotent: both look at storage and rows as they are now.

Payloads (blog/uploads/services.py owns them):
- file.uploaded   aggregate file; data {file_id, uploader_id, checksum, mime_type, purpose}
- file.deleted    aggregate file; data {file_id, checksum}
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from pathlib import Path

from PIL import Image
from sqlalchemy import exists, select, update

from blog.extensions import db
from blog.outbox.registry import Message, handles
from blog.uploads.images import THUMBNAIL_BOX
from blog.uploads.inspect import IMAGE_TYPES, MAX_PIXELS
from blog.uploads.models import FileMetadata
from blog.uploads.services import lock_checksum
from blog.uploads.storage import blob_key, get_storage, thumbnail_key


def _referenced(checksum: str) -> bool:
    return bool(db.session.scalar(select(exists().where(FileMetadata.checksum_sha256 == checksum))))


@handles("file.uploaded", timeout=120)
def make_thumbnail(message: Message) -> None:
    """A WebP of at most 320x320 beside each image blob, shared by every row of that blob."""
    data = message["data"]
    checksum = data["checksum"]
    if data.get("mime_type") not in IMAGE_TYPES:
        return
    lock_checksum(checksum)  # the blob cannot be deleted while we read it
    if not _referenced(checksum):
        return
    storage = get_storage()
    key = thumbnail_key(checksum)
    if not storage.exists(key):
        with storage.open(blob_key(checksum)) as source, Image.open(source) as image:
            # Our own re-encoded bytes, still decoded under the same limit.
            if image.width * image.height > MAX_PIXELS:
                return
            image.seek(0)
            thumb = image.convert("RGBA")
            thumb.thumbnail(THUMBNAIL_BOX)
            with tempfile.NamedTemporaryFile(prefix="blog-thumb-", delete=False) as out:
                thumb.save(out, "WEBP", quality=80)
            path = Path(out.name)
        try:
            storage.put(key, path, "image/webp")
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
    db.session.execute(
        update(FileMetadata)
        .where(FileMetadata.checksum_sha256 == checksum, FileMetadata.thumbnail_key.is_(None))
        .values(thumbnail_key=key)
    )


@handles("file.deleted")
def remove_unreferenced_blob(message: Message) -> None:
    """Delete the blob and its thumbnail once no upload refers to them any more."""
    checksum = message["data"]["checksum"]
    uuid.UUID(message["data"]["file_id"])  # a malformed payload fails loudly, and is kept
    lock_checksum(checksum)  # an upload of the same bytes either committed or waits
    if _referenced(checksum):
        return
    storage = get_storage()
    storage.delete(thumbnail_key(checksum))
    storage.delete(blob_key(checksum))
