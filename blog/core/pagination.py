"""Keyset pagination cursors: a row's (timestamp, id) as a short, URL-safe string.

`<microseconds since the epoch>.<uuid hex>`: exact (no float rounding, no time zone in the
text), readable in a link, and refused whole when malformed (decode returns None).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"^(-?\d{1,20})\.([0-9a-f]{32})$")


def encode_cursor(when: datetime, ident: uuid.UUID) -> str:
    return f"{(when - _EPOCH) // timedelta(microseconds=1)}.{ident.hex}"


def decode_cursor(raw: str | None) -> tuple[datetime, uuid.UUID] | None:
    match = _CURSOR.match(raw or "")
    if match is None:
        return None
    try:
        return _EPOCH + timedelta(microseconds=int(match.group(1))), uuid.UUID(match.group(2))
    except OverflowError:
        return None
