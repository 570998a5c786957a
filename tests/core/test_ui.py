"""The face's helpers: times people read, valid HTML datetimes, initials and stable colours."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from blog.core.ui import avatar_hue, exact_time, initials, iso_time, reading_minutes, relative_time

NOW = datetime(2026, 12, 3, 14, 5, 30, 271514, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "phrase"),
    [
        (timedelta(seconds=10), "just now"),
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(minutes=3, seconds=10), "3 minutes ago"),
        (timedelta(minutes=50), "1 hour ago"),
        (timedelta(hours=5), "5 hours ago"),
        (timedelta(hours=23), "yesterday"),
        (timedelta(days=3), "3 days ago"),
        (timedelta(days=9), "24 Nov"),
        (timedelta(days=400), "29 Oct 2025"),
        (-timedelta(minutes=20), "in 20 minutes"),
        (-timedelta(hours=3), "in 3 hours"),
        (-timedelta(hours=23), "tomorrow"),
        (-timedelta(days=5), "8 Dec"),
    ],
)
def test_relative_phrases(delta: timedelta, phrase: str) -> None:
    assert relative_time(NOW - delta, NOW) == phrase


def test_datetime_attributes_are_valid_html_with_at_most_milliseconds() -> None:
    assert iso_time(NOW) == "2026-12-03T14:05:30.271Z"
    other_zone = NOW.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert iso_time(other_zone) == "2026-12-03T14:05:30.271Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", iso_time(NOW))


def test_the_exact_time_reads_in_full() -> None:
    assert exact_time(NOW) == "Thursday 3 December 2026, 14:05 UTC"


@pytest.mark.parametrize(
    ("name", "letters"),
    [("Ada Lovelace", "AL"), ("bob", "BO"), ("grace_hopper", "GH"), ("x", "X"), ("", "?")],
)
def test_initials(name: str, letters: str) -> None:
    assert initials(name) == letters


def test_a_person_keeps_one_colour_and_people_get_several() -> None:
    person = uuid.uuid4()
    assert avatar_hue(person) == avatar_hue(person) == avatar_hue(uuid.UUID(str(person)))
    assert len({avatar_hue(uuid.uuid4()) for _ in range(200)}) > 6
    assert all(0 <= avatar_hue(uuid.uuid4()) < 12 for _ in range(50))


def test_reading_minutes() -> None:
    assert reading_minutes(0) == 1
    assert reading_minutes(1150) == 5
