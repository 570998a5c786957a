"""One row per upload. The bytes live in storage under their SHA-256 (content-addressed), so
identical uploads share one blob while each keeps its own row, name and owner.

`purpose` says what the upload is for and picks the access rule that may make it visible to
others (blog/uploads/access.py): avatar, post_image, attachment, and chat (reserved for the
chat module's attachments).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from blog.core.db import Base, UUIDPrimaryKey, utcnow

Purpose = Literal["avatar", "post_image", "attachment", "chat"]
PURPOSES: tuple[Purpose, ...] = ("avatar", "post_image", "attachment", "chat")
FILE_NAME_MAX = 255


class FileMetadata(UUIDPrimaryKey, Base):
    __tablename__ = "file_metadata"
    __table_args__ = (
        CheckConstraint(
            "purpose IN ('avatar', 'post_image', 'attachment', 'chat')", name="purpose"
        ),
        CheckConstraint("checksum_sha256 ~ '^[0-9a-f]{64}$'", name="checksum_hex"),
        CheckConstraint("size_bytes >= 0", name="size_positive"),
        CheckConstraint(
            f"char_length(file_name) BETWEEN 1 AND {FILE_NAME_MAX}", name="file_name_length"
        ),
        CheckConstraint(
            "(width IS NULL AND height IS NULL) OR (width > 0 AND height > 0)",
            name="dimensions",
        ),
        # "Your uploads", newest first, and the quota's sum.
        Index("ix_file_metadata_uploader_id_created_at", "uploader_id", "created_at"),
    )

    uploader_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # What the person called it: display metadata only, never part of a path or key.
    file_name: Mapped[str] = mapped_column(String(FILE_NAME_MAX))
    # Sniffed from the bytes, never taken from the client.
    mime_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(200))
    # Of the stored (re-encoded) bytes; rows sharing it share the blob. Indexed for the
    # "is this blob still referenced?" check and dedup.
    checksum_sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int | None]
    height: Mapped[int | None]
    # Set by the file.uploaded handler once the thumbnail exists (images only).
    thumbnail_key: Mapped[str | None] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/")

    def __repr__(self) -> str:
        return f"<FileMetadata {self.id} {self.mime_type} {self.purpose}>"
