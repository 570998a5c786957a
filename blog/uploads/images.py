"""The sizes of post images for the Markdown renderer (blog.core.markdown.ImageLookup):
width, height and a srcset of what the thumbnail job makes (its box, and the original).

Only the writer's own image uploads are sized: linking somebody else's upload shows nothing
to readers (blog.uploads.access), so the page should not learn its size either.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection

from sqlalchemy import select

from blog.core.markdown import ImageLookup, ImageSize
from blog.extensions import db
from blog.uploads.models import FileMetadata

# The thumbnail job's box (blog.uploads.handlers.make_thumbnail uses this one).
THUMBNAIL_BOX = (320, 320)
# What the editor inserts (url_for("uploads.show")): /files/<id>, under any mount point.
_OUR_IMAGE = re.compile(r"^(?:/[^?#]*)?/files/([0-9a-fA-F-]{36})$")


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    """The thumbnail's size, as Pillow's Image.thumbnail makes it (aspect kept, never larger)."""
    box_w, box_h = THUMBNAIL_BOX
    scale = min(box_w / width, box_h / height, 1)
    return max(1, round(width * scale)), max(1, round(height * scale))


def image_sizes(uploader_id: uuid.UUID | None) -> ImageLookup:
    """The lookup for a text written by `uploader_id` (None: nothing is sized)."""

    def lookup(sources: Collection[str]) -> dict[str, ImageSize]:
        ids: dict[str, uuid.UUID] = {}
        for src in sources:
            match = _OUR_IMAGE.match(src)
            if match:
                try:
                    ids[src] = uuid.UUID(match.group(1))
                except ValueError:
                    continue
        if uploader_id is None or not ids:
            return {}
        rows = db.session.execute(
            select(FileMetadata.id, FileMetadata.width, FileMetadata.height).where(
                FileMetadata.id.in_(set(ids.values())),
                FileMetadata.uploader_id == uploader_id,
                FileMetadata.mime_type.startswith("image/"),
                FileMetadata.width.is_not(None),
            )
        ).all()
        known = {row.id: (row.width, row.height) for row in rows}
        sizes = {}
        for src, file_id in ids.items():
            if file_id not in known:
                continue
            width, height = known[file_id]
            thumb_w, _thumb_h = thumbnail_size(width, height)
            srcset = f"{src}/thumb {thumb_w}w, {src} {width}w" if thumb_w < width else ""
            sizes[src] = ImageSize(width=width, height=height, srcset=srcset)
        return sizes

    return lookup
