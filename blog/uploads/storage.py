"""Where blobs live: a small interface with two backends, chosen by configuration.

Keys are ours alone: `blobs/ab/cd/<sha256>` and `thumbs/ab/cd/<sha256>.webp`, built from a
checksum and checked against one pattern before any backend sees them. A client's file name
never reaches a key or a path. Putting a key that exists is a no-op (the bytes are the same:
the key is their hash), which is what makes storage deduplicated.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from flask import Flask, current_app

_KEY = re.compile(
    r"^(blobs|thumbs)/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}(\.webp)?$"
    # --- exports: a data download's archive (blog/exports), named by its row's id.
    r"|^exports/[0-9a-f]{32}\.zip$"
)
CHUNK = 64 * 1024


class BadKey(ValueError):
    """A key that is not one of ours: refused before it reaches a backend."""


def blob_key(sha256: str) -> str:
    return _checked(f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}")


def thumbnail_key(sha256: str) -> str:
    return _checked(f"thumbs/{sha256[:2]}/{sha256[2:4]}/{sha256}.webp")


def export_key(export_id: uuid.UUID) -> str:
    """Where a data download's ZIP lives (blog/exports): not content-addressed, one per row."""
    return _checked(f"exports/{export_id.hex}.zip")


def _checked(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise BadKey(f"not a storage key: {key!r}")
    return key


class Storage(Protocol):
    def put(self, key: str, source: Path, content_type: str) -> bool:
        """Store the file at `source` under `key` unless it is there; True if it was written."""

    def exists(self, key: str) -> bool: ...

    def open(self, key: str) -> BinaryIO:
        """A readable stream of the blob (the caller closes it); FileNotFoundError if absent."""

    def delete(self, key: str) -> None:
        """Remove the blob; a missing one is not an error (deletes are retried)."""


class LocalStorage:
    """Files under one root directory, written atomically (temporary file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / _checked(key)).resolve()
        # Belt and braces: the pattern already rules out "..", but a path outside the root is
        # never opened, whatever produced it.
        if not path.is_relative_to(self.root):
            raise BadKey(f"outside the storage root: {key!r}")
        return path

    def put(self, key: str, source: Path, content_type: str) -> bool:
        path = self._path(key)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Storage:
    """Any S3-compatible object store through boto3 (tested against moto's server)."""

    def __init__(self, *, bucket: str, **client_options: Any) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        options = {k: v for k, v in client_options.items() if v is not None}
        self.client = boto3.client(
            "s3",
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5),
            **options,
        )

    def put(self, key: str, source: Path, content_type: str) -> bool:
        if self.exists(key):
            return False
        # upload_file streams from disk in parts: the blob never sits in memory whole.
        self.client.upload_file(
            str(source), self.bucket, _checked(key), ExtraArgs={"ContentType": content_type}
        )
        return True

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=_checked(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=_checked(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise FileNotFoundError(key) from None
            raise
        return response["Body"]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=_checked(key))


def make_storage(app: Flask) -> Storage:
    if app.config.get("UPLOADS_BACKEND") == "s3":
        return S3Storage(**app.config["UPLOADS_S3"])
    return LocalStorage(Path(app.config["UPLOADS_DIR"]))


def get_storage() -> Storage:
    """The app's storage, made once per app (a boto3 client is thread-safe and costly)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    storage: Storage | None = app.extensions.get("blog_storage")
    if storage is None:
        storage = make_storage(app)
        app.extensions["blog_storage"] = storage
    return storage


def iter_blob(stream: BinaryIO) -> Iterator[bytes]:
    """The blob in chunks, closing the stream at the end (for a streamed response)."""
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    finally:
        stream.close()
