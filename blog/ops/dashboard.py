"""Figures for the admin pages: activity per day and the database samples."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select, text

from blog.core.db import utcnow
from blog.extensions import db
from blog.ops.models import DbSample

DAYS = 30

# Table and timestamp of each daily series. Chat messages join when the chat exists.
SERIES = {
    "Sign-ups": ("users", "created_at"),
    "Posts published": ("posts", "published_at"),
    "Comments": ("comments", "created_at"),
    "Chat messages": ("messages", "created_at"),
}


@dataclass(frozen=True)
class Daily:
    label: str
    days: list[date]
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


def daily_activity(days: int = DAYS) -> list[Daily]:
    """Counts per UTC day for the last `days` days, one statement per series."""
    today = utcnow().date()
    start = today - timedelta(days=days - 1)
    series = []
    for label, (table, column) in SERIES.items():
        # Table and column names come from the constant above, never from input.
        rows = db.session.execute(
            text(
                f"SELECT d::date, count(t.{column}) "  # noqa: S608 - constant identifiers
                f"FROM generate_series(CAST(:start AS date), CAST(:end AS date), '1 day') d "
                f"LEFT JOIN {table} t ON t.{column} >= d AND t.{column} < d + interval '1 day' "
                "GROUP BY d ORDER BY d"
            ),
            {"start": start, "end": today},
        ).all()
        series.append(Daily(label, [r[0] for r in rows], [int(r[1]) for r in rows]))
    return series


def recent_samples(hours: int = 24) -> list[DbSample]:
    return list(
        db.session.scalars(
            select(DbSample)
            .where(DbSample.taken_at >= utcnow() - timedelta(hours=hours))
            .order_by(DbSample.taken_at)
        )
    )
