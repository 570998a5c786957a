"""Files to upload, made here: images by Pillow, and the hostile ones by hand."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

from PIL import Image

from blog.core.db import utcnow
from tests.conftest import Client
from tests.factories import make_user


def png(size: tuple[int, int] = (40, 30), color: str = "teal", **save: Any) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG", **save)
    return buf.getvalue()


def jpeg(size: tuple[int, int] = (40, 30), exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    image = Image.new("RGB", size, "orange")
    image.save(buf, "JPEG", **({"exif": exif} if exif is not None else {}))
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims width x height pixels (a bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


SVG_WITH_SCRIPT = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>alert(document.domain)</script><rect width="10" height="10"/></svg>'
)
HTML_PAGE = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


def verified_user(app: Any, **attrs: Any) -> Any:
    with app.app_context():
        user = make_user(email_verified_at=utcnow(), **attrs)
        return user.id, user.email, user.user_name


def upload(  # noqa: PLR0917 - reads as the request it makes: path, bytes, name, type
    client: Client,
    path: str,
    content: bytes,
    name: str = "file.bin",
    content_type: str = "application/octet-stream",
    csrf_from: str = "/uploads",
    **fields: str,
) -> Any:
    token = client.csrf(csrf_from)
    data: dict[str, Any] = {"csrf_token": token, **fields}
    data["file"] = (io.BytesIO(content), name, content_type)
    return client.post(path, data=data, content_type="multipart/form-data")


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
