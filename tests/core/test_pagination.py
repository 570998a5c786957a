from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from blog.core.pagination import decode_cursor, encode_cursor


def test_a_cursor_round_trips_to_the_microsecond():
    when = datetime(2026, 11, 22, 8, 59, 1, 123456, tzinfo=UTC)
    ident = uuid.uuid4()

    assert decode_cursor(encode_cursor(when, ident)) == (when, ident)


@pytest.mark.parametrize(
    "raw", [None, "", "garbage", "12.xyz", "1." + "0" * 31, "9" * 20 + "." + "0" * 32, "1.2.3"]
)
def test_a_malformed_cursor_is_none(raw):
    assert decode_cursor(raw) is None
