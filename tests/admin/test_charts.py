"""The admin charts, read through the pages as an admin gets them: axes with dates and values,
a labelled target per bar or sample, and a table holding the same numbers
(blog/core/charts.py, templates/_macros/charts.html)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from blog.core.charts import full_day_label, value_axis
from blog.core.db import utcnow
from blog.extensions import db
from blog.ops.models import DbSample
from tests.conftest import new_client
from tests.factories import make_user

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass
class ReadChart:
    caption: str = ""
    view_box: str = ""
    y_labels: list[str] = field(default_factory=list)
    x_labels: list[str] = field(default_factory=list)
    y_tick_at: list[float] = field(default_factory=list)
    points: list[dict[str, str]] = field(default_factory=list)
    bars: list[dict[str, str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (datetime, when, number)
    table_summary: str = ""


class _Charts(HTMLParser):
    """Every <figure data-chart> of a page, as a reader (or a screen reader) gets it."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, ReadChart] = {}
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.current: ReadChart | None = None
        self.row: list[str] = []
        self.row_datetime = ""

    def _inside(self, tag: str, cls: str = "") -> bool:
        return any(
            t == tag and (not cls or cls in a.get("class", "").split()) for t, a in self.stack
        )

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "figure" and "data-chart" in a:
            self.current = self.charts.setdefault(a["id"], ReadChart())
        chart = self.current
        if chart is not None:
            classes = a.get("class", "").split()
            if tag == "svg":
                chart.view_box = a["viewbox"]
            elif tag == "g" and "chart-point" in classes:
                chart.points.append(a)
            elif tag == "rect" and "chart-bar" in classes:
                chart.bars.append(a)
            elif tag == "polyline":
                chart.lines.append(a["points"])
            elif tag == "line" and self._inside("g", "chart-grid"):
                chart.y_tick_at.append(float(a["y1"]))
            elif tag == "tr":
                self.row, self.row_datetime = [], ""
            elif tag == "time" and self._inside("table"):
                self.row_datetime = a["datetime"]
        if tag not in ("input", "br", "meta", "link", "img", "hr"):  # no end tag comes
            self.stack.append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        if any(t == tag for t, _ in self.stack):
            while self.stack and self.stack.pop()[0] != tag:
                pass
        chart = self.current
        if chart is None:
            return
        if tag == "tr" and len(self.row) == 2 and self.row_datetime:
            chart.rows.append((self.row_datetime, self.row[0].strip(), self.row[1].strip()))
        if tag == "figure":
            self.current = None

    def handle_data(self, data: str) -> None:
        chart = self.current
        if chart is None or not self.stack:
            return
        tag, _ = self.stack[-1]
        if tag == "text" and self._inside("g", "chart-axis-y"):
            chart.y_labels.append(data)
        elif tag == "text" and self._inside("g", "chart-axis-x"):
            chart.x_labels.append(data)
        elif self._inside("figcaption"):
            chart.caption += data
        elif tag in ("time", "td") and self._inside("tbody"):
            self.row.append(data)


def read_charts(html: str) -> dict[str, ReadChart]:
    parser = _Charts()
    parser.feed(html)
    return parser.charts


def short_day(d) -> str:
    return f"{d.day} {MONTHS[d.month - 1]}"


@pytest.fixture
def admin(app, sign_in):
    with app.app_context():
        make_user(email="admin@example.com", role="admin")
    browser = new_client(app)
    sign_in(browser, "admin@example.com")
    return browser


def test_the_dashboard_bars_have_dates_values_and_a_table_with_the_same_numbers(app, admin):
    today = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    with app.app_context():
        for _ in range(3):
            make_user(created_at=today - timedelta(days=2))
        make_user(created_at=today - timedelta(days=9))
    # The admin signed up today, three people two days ago, one nine days ago.

    body = admin.get("/admin/").get_data(as_text=True)
    charts = read_charts(body)

    assert set(charts) == {
        "chart-sign-ups",
        "chart-posts-published",
        "chart-comments",
        "chart-chat-messages",
    }
    signups = charts["chart-sign-ups"]
    assert "Sign-ups per day" in signups.caption
    assert "5 in 30 days" in signups.caption
    two_days_ago = (today - timedelta(days=2)).date()
    assert f"busiest day {full_day_label(two_days_ago)} with 3" in signups.caption

    # The date axis names today and every 7th day before it; the value axis counts 0, 1, 2, 3.
    assert signups.x_labels == [
        short_day((today - timedelta(days=d)).date()) for d in (28, 21, 14, 7, 0)
    ]
    assert signups.y_labels == ["0", "1", "2", "3"]
    assert len(signups.y_tick_at) == 4

    # One bar and one labelled, focusable target per day; only the newest is in the tab order.
    assert len(signups.points) == len(signups.bars) == 30
    labels = [p["aria-label"] for p in signups.points]
    assert labels[-1] == f"{full_day_label(today.date())}: 1 sign-up"
    assert labels[-3] == f"{full_day_label(two_days_ago)}: 3 sign-ups"
    assert labels[0].endswith(": 0 sign-ups")
    assert [p["tabindex"] for p in signups.points] == ["-1"] * 29 + ["0"]
    assert all(p["role"] == "img" for p in signups.points)

    # The tallest bar reaches the top gridline (3), an empty day has no height.
    top_gridline, baseline = min(signups.y_tick_at), max(signups.y_tick_at)
    assert float(signups.bars[-3]["y"]) == top_gridline
    assert float(signups.bars[-1]["height"]) == pytest.approx(
        (baseline - top_gridline) / 3, abs=0.2
    )
    assert float(signups.bars[0]["height"]) == 0

    # The table holds the same days and numbers as the bars.
    assert len(signups.rows) == 30
    assert signups.rows[-1] == (today.date().isoformat(), full_day_label(today.date()), "1")
    assert signups.rows[-3][2] == "3"
    assert [f"{when}: {number}" for _, when, number in signups.rows] == [
        label.removesuffix(" sign-ups").removesuffix(" sign-up") for label in labels
    ]
    assert "Show the data as a table" in body

    messages = charts["chart-chat-messages"]
    assert "0 in 30 days" in messages.caption
    assert messages.y_labels == ["0", "1"]
    assert {row[2] for row in messages.rows} == {"0"}


def _sample(at: datetime, connections: int, ratio: float, size: int) -> DbSample:
    return DbSample(
        taken_at=at,
        connections=connections,
        cache_hit_ratio=ratio,
        database_bytes=size,
        table_sizes={"posts": 4096},
        slow_statements=[],
    )


def test_the_database_charts_have_times_values_and_a_table_with_the_same_numbers(app, admin):
    now = utcnow().replace(second=0, microsecond=0)
    # Six samples 5 minutes apart, a silence of an hour (cron stopped), then three more.
    times = [now - timedelta(minutes=95 - 5 * i) for i in range(6)] + [
        now - timedelta(minutes=10 - 5 * i) for i in range(3)
    ]
    connections = [3, 4, 8, 5, 5, 6, 2, 7, 4]
    with app.app_context():
        for at, n in zip(times, connections, strict=True):
            db.session.add(_sample(at, n, 0.9950 + n / 10_000, 12_300_000 + n * 100_000))
        db.session.commit()

    body = admin.get("/admin/database").get_data(as_text=True)
    charts = read_charts(body)

    assert set(charts) == {"chart-connections", "chart-cache-hit-ratio", "chart-database-size"}
    conn = charts["chart-connections"]
    # Values from 0 (a count), whole numbers; times of day in UTC along the bottom.
    assert conn.y_labels == ["0", "2", "4", "6", "8"]
    assert conn.x_labels, "no time labels"
    for label in conn.x_labels:
        hour, _, minute = label.partition(":")
        assert (hour.isdigit() and minute.isdigit()) or label.split()[1] in MONTHS
    # The labelled ticks fall on round quarters of an hour within the sampled span.
    assert all(
        label.endswith(("00", "15", "30", "45")) or ":" not in label for label in conn.x_labels
    )

    # The hour without samples breaks the line in two.
    assert len(conn.lines) == 2
    assert [len(line.split()) for line in conn.lines] == [6, 3]

    newest = times[-1].astimezone(UTC)
    stamp = f"{newest.day} {MONTHS[newest.month - 1]} {newest.year}, {newest:%H:%M} UTC"
    assert conn.points[-1]["aria-label"] == f"{stamp}: 4 connections"
    assert conn.points[-1]["tabindex"] == "0"
    assert f"Latest 4 at {stamp}; lowest 2, highest 8; 9 samples since" in conn.caption

    assert [row[2] for row in conn.rows] == [str(n) for n in connections]
    assert conn.rows[-1][0] == f"{newest:%Y-%m-%dT%H:%MZ}"
    assert conn.rows[-1][1] == stamp

    ratio = charts["chart-cache-hit-ratio"]
    assert all(label.endswith(" %") for label in ratio.y_labels)
    assert float(ratio.y_labels[-1].removesuffix(" %")) <= 100
    assert [row[2] for row in ratio.rows] == [f"{99.5 + n / 100:.2f} %" for n in connections]
    assert ratio.points[2]["aria-label"].endswith(": 99.58 %")

    size = charts["chart-database-size"]
    assert all(label.endswith(" MB") for label in size.y_labels)
    assert size.rows[2][2] == "13.1 MB"
    assert size.points[-1]["aria-label"].endswith(": 12.7 MB")

    # Every axis label sits inside the drawing, at any width.
    assert conn.view_box == "0 0 560 240"


def test_one_sample_still_draws_a_point_with_its_time(app, admin):
    with app.app_context():
        db.session.add(_sample(utcnow(), 3, 1.0, 9_000_000))
        db.session.commit()

    charts = read_charts(admin.get("/admin/database").get_data(as_text=True))

    conn = charts["chart-connections"]
    assert len(conn.points) == 1
    assert conn.lines == []
    assert conn.points[0]["aria-label"].endswith(": 3 connections")
    ratio = charts["chart-cache-hit-ratio"]
    assert ratio.y_labels[-1] == "100.0 %"  # a ratio axis never goes past 100 %
    assert ratio.rows[0][2] == "100.00 %"


@pytest.mark.parametrize(
    ("values", "kwargs", "expected"),
    [
        ([0, 0, 0], {"low": 0, "whole": True}, (0, 1, 1)),  # nothing yet: 0 to 1, not 0 to 0
        ([5, 7, 6], {"low": 0, "whole": True}, (0, 8, 2)),
        ([1, 2], {"low": 0, "whole": True}, (0, 2, 1)),  # no half connections
        ([100, 100], {"high": 100}, (99, 100, 0.5)),  # a full cache: the axis stops at 100 %
        ([99.5, 99.8], {"high": 100}, (99.5, 99.8, 0.1)),
    ],
)
def test_value_axes_use_round_steps_and_respect_their_bounds(values, kwargs, expected):
    bottom, top, step = value_axis(values, **kwargs)
    assert (bottom, top, step) == pytest.approx(expected)
