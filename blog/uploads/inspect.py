"""What an uploaded file really is, decided from its bytes, and its safe re-encoding.

Security boundary. The client's name and Content-Type are never believed: the first bytes pick
the type from a short allow-list (PNG, JPEG, GIF, WebP; PDF, ZIP, plain UTF-8 text). Images are
decoded by Pillow under a pixel limit and written out again from their pixels alone, which
drops whatever rode along: EXIF and GPS, text chunks and comments, bytes appended after the
image (an HTML or ZIP payload). SVG and anything else that is markup is refused: a browser
would run its scripts.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

IMAGE_TYPES = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
DOCUMENT_TYPES = ("application/pdf", "application/zip", "text/plain")
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "application/zip": "zip",
    "text/plain": "txt",
}
ACCEPTED = "PNG, JPEG, GIF or WebP images, or PDF, ZIP or plain-text documents"
# One frame's pixels, and all frames' together: a decoded RGBA pixel is 4 bytes, so this
# bounds the memory one upload can take while it is decoded (~96 MB).
MAX_PIXELS = 24_000_000
MAX_TOTAL_PIXELS = 48_000_000
MAX_FRAMES = 300
CHUNK = 64 * 1024
# Markup a browser would render or run if it ever sniffed the file: refused even as "text".
_MARKUP = re.compile(rb"<\s*(svg|script|html|!doctype|\?xml|iframe|object|embed|body|head)\b", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class UploadRefused(Exception):
    """The file is not accepted; `status` is the HTTP answer (413, 415, 422) and the message
    is for the person who sent it."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Inspected:
    path: Path  # the bytes to store (re-encoded for images): a temporary file the caller owns
    mime_type: str
    size: int
    sha256: str
    width: int | None = None
    height: int | None = None


# Magic numbers at the start of each allowed type (WebP is RIFF....WEBP, checked below).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),  # an empty archive
)


def sniff(head: bytes) -> str | None:
    """The allowed type these first bytes start, or None (text is decided by the caller)."""
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in _MAGIC if head.startswith(magic)), None)


def has_usable_name(raw: str | None) -> bool:
    """The client's file name names a file: its last path segment is not empty, "." or "..".

    Such a name is a directory, not a file; refused (400) rather than renamed, as Django's
    storage does for these names.
    """
    last = re.split(r"[/\\]", unicodedata.normalize("NFC", raw or ""))[-1]
    return _CONTROL.sub("", last).strip() not in ("", ".", "..")


def display_name(raw: str | None, mime_type: str | None = None) -> str:
    """The client's file name made fit to show: its last path segment, no control characters,
    at most 255 characters. Display only: it never becomes a path or a key."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]  # "../../x", "..\\..\\x", "C:\\Windows\\x" → "x"
    name = _CONTROL.sub("", name).strip().strip(".").strip()
    if not name:
        name = "upload" + (f".{EXTENSIONS[mime_type]}" if mime_type in EXTENSIONS else "")
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else name[:255]
    return name


def download_name(name: str, mime_type: str) -> str:
    """The name a download is saved under: the display name with the extension of what the
    file really is (a JPEG called photo.png saves as photo.jpg; page.exe as page.txt)."""
    ext = EXTENSIONS.get(mime_type, "bin")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem or 'upload'}.{ext}"


def inspect_upload(stream: BinaryIO, *, images_only: bool = False) -> Inspected:
    """Decide what the upload is and produce the bytes to store. Raises UploadRefused."""
    head = stream.read(64)
    stream.seek(0)
    mime = sniff(head)
    if mime is None:
        mime = _text_or_refuse(stream)
    if images_only and mime not in IMAGE_TYPES:
        raise UploadRefused("This is not an image: upload a PNG, JPEG, GIF or WebP file.", 415)
    if mime in IMAGE_TYPES:
        return _reencode(stream, mime)
    return _copy(stream, mime)


def _text_or_refuse(stream: BinaryIO) -> str:
    """Plain UTF-8 text without markup, or a 415 that says what we accept."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    tail = b""
    first = True
    while chunk := stream.read(CHUNK):
        window = tail + chunk
        if _MARKUP.search(window):
            if re.search(rb"<\s*svg\b", window, re.I):
                raise UploadRefused(
                    "SVG images are not accepted (they can carry scripts): "
                    "upload a PNG, JPEG, GIF or WebP image instead.",
                    415,
                )
            raise UploadRefused(
                f"HTML, XML and other markup files are not accepted. We accept {ACCEPTED}.", 415
            )
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError:
            raise _not_accepted() from None
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        if _CONTROL.search(text.replace("\x0c", "")):
            raise _not_accepted()
        tail = chunk[-32:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _not_accepted() from None
    stream.seek(0)
    return "text/plain"


def _not_accepted() -> UploadRefused:
    return UploadRefused(f"This type of file is not accepted. We accept {ACCEPTED}.", 415)


def _copy(stream: BinaryIO, mime: str) -> Inspected:
    digest = hashlib.sha256()
    size = 0
    out = tempfile.NamedTemporaryFile(prefix="blog-upload-", delete=False)  # noqa: SIM115
    with out:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return Inspected(Path(out.name), mime, size, digest.hexdigest())


def _unreadable() -> UploadRefused:
    return UploadRefused("The image could not be read: the file is damaged or incomplete.", 422)


def _reencode(stream: BinaryIO, mime: str) -> Inspected:
    fmt = IMAGE_TYPES[mime]
    try:
        image = Image.open(stream, formats=[fmt])
    except Image.DecompressionBombError:
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _unreadable() from None
    with image:
        width, height = image.size
        frames = getattr(image, "n_frames", 1)
        if width * height > MAX_PIXELS or width * height * frames > MAX_TOTAL_PIXELS:
            raise _too_many_pixels()
        if frames > MAX_FRAMES:
            raise UploadRefused(f"The animation has too many frames (at most {MAX_FRAMES}).", 422)
        try:
            clean = _clean_frames(image, fmt)
        except Image.DecompressionBombError:
            raise _too_many_pixels() from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise _unreadable() from None
        loop = image.info.get("loop", 0)
    out = tempfile.NamedTemporaryFile(prefix="blog-image-", delete=False)  # noqa: SIM115
    with out:
        first, rest = clean[0], clean[1:]
        if fmt == "JPEG":
            if first.mode not in ("RGB", "L"):
                first = first.convert("RGB")
            first.save(out, "JPEG", quality=90, optimize=True)
        elif fmt == "PNG":
            first.save(out, "PNG", optimize=False)
        elif rest:  # an animated GIF or WebP stays animated
            durations = [f.info.get("duration", 100) for f in clean]
            options = {"quality": 90} if fmt == "WEBP" else {"disposal": 2}
            first.save(
                out, fmt, save_all=True, append_images=rest, duration=durations, loop=loop,
                **options,
            )  # fmt: skip
        else:
            first.save(out, fmt, **({"quality": 90} if fmt == "WEBP" else {}))
    path = Path(out.name)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return Inspected(path, mime, path.stat().st_size, digest.hexdigest(), first.width, first.height)


def _too_many_pixels() -> UploadRefused:
    return UploadRefused(
        f"The image has too many pixels (at most {MAX_PIXELS // 1_000_000} megapixels).", 422
    )


# The only per-frame facts carried into the new file: how it is transparent and timed. Never
# EXIF, XMP, ICC, text chunks or comments.
_KEEP_INFO = ("transparency", "duration")


def _clean_frames(image: Image.Image, fmt: str) -> list[Image.Image]:
    if fmt in ("JPEG", "PNG", "WEBP") and getattr(image, "n_frames", 1) == 1:
        # Turn the picture the way its EXIF orientation says before the EXIF goes.
        source = ImageOps.exif_transpose(image)
        frames = [source if source is not image else image.copy()]
        frames[0].info = {k: image.info[k] for k in _KEEP_INFO if k in image.info}
        return frames
    clean = []
    for frame in ImageSequence.Iterator(image):
        copy = frame.copy()
        copy.info = {k: frame.info[k] for k in _KEEP_INFO if k in frame.info}
        clean.append(copy)
        if fmt == "PNG":  # an animated PNG keeps its first frame
            break
    return clean
