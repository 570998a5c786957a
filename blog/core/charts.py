"""Charts drawn on the server as SVG with real axes: no chart library, no canvas, no CDN.

This module only computes: where the axes, ticks, bars, lines and hover targets go, and every
label a reader sees (dates, values). `templates/_macros/charts.html` turns a `Chart` into an
SVG plus a table holding the same numbers, and `static/js/charts.js` adds the tooltips and the
arrow keys. Without JavaScript the chart, its axes and its table are all still there.

Geometry is in the SVG's own units (`WIDTH` x `HEIGHT`); the SVG scales to its box, so the
margins leave room for the larger labels charts.css gives narrow screens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

WIDTH = 560
HEIGHT = 240
LEFT_MIN = 36  # the value labels' room grows with the longest one (see _left_margin)
RIGHT = 14
TOP = 14
BOTTOM = 36  # room for the date labels under the plot
TARGET_TICKS = 4  # about this many value gridlines
MAX_DATE_LABELS = 5

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Steps for a time axis, the shortest that keeps the labels to MAX_DATE_LABELS.
TIME_STEPS = tuple(
    timedelta(minutes=m) for m in (5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
)


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in SVG units
    label: str
    anchor: str = "middle"  # text-anchor: "end" for a date label at the right edge


@dataclass(frozen=True)
class Point:
    """One value: where it is drawn, where it reacts to the pointer, and what it says."""

    when: str  # the full date (and time), as shown in the table and the tooltip
    iso: str  # for <time datetime>
    value: float
    value_text: str  # "5 sign-ups", "99.2 %": the value with its unit, for the tooltip
    number_text: str  # "5", "99.2 %": for the table, whose heading names the unit
    x: float  # the centre of the bar, or the point on the line
    y: float  # the top of the bar, or the point on the line
    hit_x: float  # the band that reacts to the pointer: from hit_x, hit_width wide
    hit_width: float
    bar_x: float = 0.0
    bar_width: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.when}: {self.value_text}"


@dataclass(frozen=True)
class Chart:
    id: str
    kind: str  # "bar" or "line"
    title: str  # "Sign-ups per day, last 30 days"
    when_heading: str  # the table's first column: "Day" or "Time (UTC)"
    value_heading: str  # the table's second column: "Sign-ups"
    summary: str  # one sentence with the figures that matter
    keys_hint: str  # how to move between points with the keyboard
    points: list[Point]
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # polyline "x,y x,y" runs (gaps break them)
    dots: list[Point] = field(default_factory=list)  # points alone between two gaps
    width: int = WIDTH
    height: int = HEIGHT
    left: float = LEFT_MIN
    right: float = WIDTH - RIGHT
    top: float = TOP
    bottom: float = HEIGHT - BOTTOM

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"

    @property
    def baseline(self) -> float:
        return self.bottom


# --- labels -------------------------------------------------------------------------------


def day_label(day: date) -> str:
    """ "3 Dec", for an axis."""
    return f"{day.day} {MONTHS[day.month - 1]}"


def full_day_label(day: date) -> str:
    """ "Thu 3 Dec 2026", for a table or a tooltip (not the locale's: the same on every host)."""
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"


def time_label(moment: datetime) -> str:
    """ "14:05" in UTC, or "3 Dec" at midnight so a day boundary on the axis is visible."""
    moment = moment.astimezone(UTC)
    if moment.hour == 0 and moment.minute == 0:
        return day_label(moment.date())
    return f"{moment:%H:%M}"


def full_time_label(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{day_label(moment.date())} {moment.year}, {moment:%H:%M} UTC"


def iso_minute(moment: datetime) -> str:
    """A valid HTML datetime: to the minute, in UTC, no fractional seconds."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def count_text(n: float, noun: tuple[str, str]) -> str:
    n = int(n)
    return f"{n:,} {noun[0] if n == 1 else noun[1]}"


# --- scales -------------------------------------------------------------------------------


def nice_step(span: float, ticks: int = TARGET_TICKS) -> float:
    """A step of 1, 2 or 5 times a power of ten that cuts `span` into about `ticks` parts."""
    raw = span / ticks if span > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * magnitude * (1 + 1e-9):
            return multiple * magnitude
    return 10 * magnitude  # pragma: no cover - the loop ends at 10


def value_axis(
    values: Sequence[float],
    *,
    low: float | None = None,
    high: float | None = None,
    whole: bool = False,
) -> tuple[float, float, float]:
    """(bottom, top, step) of a value axis over `values`: round numbers, `low` and `high`
    included when given (a count starts at 0), never beyond `high` (a ratio stops at 100 %).
    `whole`: ticks are whole numbers (you cannot have 2.5 connections)."""
    lo, hi = min(values), max(values)
    if low is not None:
        lo = min(lo, low)
    pad = max(abs(hi) * 0.01, 1.0 if whole else 0.1)
    if hi == lo:
        if low is not None and lo <= low:
            hi = lo + pad  # all at the floor (no sign-ups yet): the axis rises from it
        else:
            lo, hi = lo - pad, hi + pad
    if high is not None:
        hi = min(hi, high)
        if lo >= hi:
            lo = hi - pad
    step = nice_step(hi - lo)
    if whole:
        step = max(1.0, round(step))
    bottom = math.floor(lo / step + 1e-9) * step
    top = math.ceil(hi / step - 1e-9) * step
    if high is not None:
        top = min(top, high)
    if top <= bottom:
        top = bottom + step
    return bottom, top, step


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _value_labels(bottom: float, top: float, step: float, unit: str) -> list[tuple[float, str]]:
    digits = _decimals(step)
    count = round((top - bottom) / step)
    return [(bottom + i * step, f"{bottom + i * step:,.{digits}f}{unit}") for i in range(count + 1)]


def _left_margin(labels: list[tuple[float, str]]) -> float:
    """Room for the longest value label at the narrow screens' size (20 units, about 11.6 a
    character), so "99.96 %" fits as well as "5" without wasting the plot's width."""
    longest = max(len(label) for _, label in labels)
    return max(LEFT_MIN, round(10 + longest * 11.6))


def _y_ticks(
    labels: list[tuple[float, str]], bottom: float, top: float, plot_top: float, plot_bottom: float
) -> list[Tick]:
    span = top - bottom
    return [
        Tick(round(plot_bottom - (value - bottom) / span * (plot_bottom - plot_top), 1), label)
        for value, label in labels
    ]


def _x_tick(at: float, label: str, left: float) -> Tick:
    """A date label under the plot, kept inside the SVG at both ends."""
    if at > WIDTH - RIGHT - 24:
        return Tick(round(at, 1), label, "end")
    if at < left + 12:
        return Tick(round(at, 1), label, "start")
    return Tick(round(at, 1), label)


# --- charts -------------------------------------------------------------------------------


def bar_chart(
    chart_id: str,
    *,
    title: str,
    days: Sequence[date],
    counts: Sequence[int],
    noun: tuple[str, str],
    value_heading: str,
) -> Chart:
    """One bar per day (oldest first), from zero, with the days under it and counts beside."""
    keys = "Use the left and right arrow keys to move between days, Home and End for the ends."
    if not counts:
        return Chart(chart_id, "bar", title, "Day", value_heading, "No data yet.", keys, [])
    low, high, step = value_axis(counts, low=0, whole=True)
    labels = _value_labels(low, high, step, "")
    left, right, top, bottom = _left_margin(labels), WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    band = (right - left) / len(counts)
    gap = min(band * 0.2, 4.0)

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    points = []
    for i, (day, n) in enumerate(zip(days, counts, strict=True)):
        x0 = left + i * band
        points.append(
            Point(
                when=full_day_label(day),
                iso=day.isoformat(),
                value=n,
                value_text=count_text(n, noun),
                number_text=f"{n:,}",
                x=round(x0 + band / 2, 1),
                y=round(y_of(n), 1),
                hit_x=round(x0, 1),
                hit_width=round(band, 1),
                bar_x=round(x0 + gap / 2, 1),
                bar_width=round(max(band - gap, 1.0), 1),
            )
        )
    # Label the newest day and every k-th day before it, so "today" is always named.
    every = max(1, math.ceil(len(points) / MAX_DATE_LABELS))
    if len(points) > 7 and every < 7 and len(points) / 7 <= MAX_DATE_LABELS:
        every = 7  # a week apart reads best when it fits
    x_ticks = [
        _x_tick(points[i].x, day_label(days[i]), left) for i in range(len(points) - 1, -1, -every)
    ][::-1]
    total = sum(counts)
    busiest = max(range(len(counts)), key=lambda i: (counts[i], i))
    summary = f"{total:,} in {len(counts)} days"
    if total:
        summary += f"; busiest day {full_day_label(days[busiest])} with {counts[busiest]:,}"
    summary += "."
    return Chart(
        chart_id,
        "bar",
        title,
        "Day",
        value_heading,
        summary,
        keys,
        points,
        x_ticks=x_ticks,
        y_ticks=_y_ticks(labels, low, high, top, bottom),
        left=left,
    )


def line_chart(
    chart_id: str,
    *,
    title: str,
    times: Sequence[datetime],
    values: Sequence[float],
    value_heading: str,
    unit: str = "",
    decimals: int = 0,
    noun: tuple[str, str] | None = None,
    low: float | None = None,
    high: float | None = None,
    gap: timedelta | None = None,
) -> Chart:
    """A line over time (oldest first), placed by time, broken where no sample came for longer
    than `gap`; values shown with `decimals` digits and `unit` ("%", " MB") or as a count of
    `noun`. `low`/`high` as in value_axis."""
    keys = "Use the left and right arrow keys to move between samples, Home and End for the ends."
    if not values:
        return Chart(chart_id, "line", title, "Time (UTC)", value_heading, "No data yet.", keys, [])
    whole = decimals == 0
    v_low, v_high, step = value_axis(values, low=low, high=high, whole=whole)
    labels = _value_labels(v_low, v_high, step, unit if noun is None else "")
    left, right, top, bottom = _left_margin(labels), WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    start, end = times[0], times[-1]
    if end == start:  # one sample: put it in the middle of a ten-minute window
        start, end = start - timedelta(minutes=5), end + timedelta(minutes=5)
    span = (end - start).total_seconds()

    def x_of(moment: datetime) -> float:
        return left + (moment - start).total_seconds() / span * (right - left)

    def y_of(value: float) -> float:
        return bottom - (value - v_low) / (v_high - v_low) * (bottom - top)

    def text(value: float) -> str:
        if noun is not None:
            return count_text(value, noun)
        return f"{value:,.{decimals}f}{unit}"

    xs = [x_of(t) for t in times]
    points = []
    for i, (moment, value) in enumerate(zip(times, values, strict=True)):
        # Each point answers the pointer from half-way to its neighbours.
        x0 = left if i == 0 else (xs[i - 1] + xs[i]) / 2
        x1 = right if i == len(xs) - 1 else (xs[i] + xs[i + 1]) / 2
        points.append(
            Point(
                when=full_time_label(moment),
                iso=iso_minute(moment),
                value=value,
                value_text=text(value),
                number_text=f"{value:,.{decimals}f}{unit}",
                x=round(xs[i], 1),
                y=round(y_of(value), 1),
                hit_x=round(x0, 1),
                hit_width=round(max(x1 - x0, 0.5), 1),
            )
        )
    runs: list[list[Point]] = [[points[0]]]
    for previous, moment, point in zip(times, times[1:], points[1:], strict=False):
        if gap is not None and moment - previous > gap:
            runs.append([])
        runs[-1].append(point)
    lines = [" ".join(f"{p.x},{p.y}" for p in run) for run in runs if len(run) > 1]
    dots = [run[0] for run in runs if len(run) == 1]

    tick_step = next(
        (s for s in TIME_STEPS if span / s.total_seconds() <= MAX_DATE_LABELS - 1), TIME_STEPS[-1]
    )
    seconds = int(tick_step.total_seconds())
    first = datetime.fromtimestamp(math.ceil(start.timestamp() / seconds) * seconds, tz=UTC)
    x_ticks = []
    moment = first
    while moment <= end:
        x_ticks.append(_x_tick(x_of(moment), time_label(moment), left))
        moment += tick_step

    lowest, highest = points[values.index(min(values))], points[values.index(max(values))]
    summary = (
        f"Latest {points[-1].number_text} at {full_time_label(times[-1])}; "
        f"lowest {lowest.number_text}, highest {highest.number_text}; "
        f"{len(values)} sample{'s' if len(values) != 1 else ''} since {full_time_label(times[0])}."
    )
    return Chart(
        chart_id,
        "line",
        title,
        "Time (UTC)",
        value_heading,
        summary,
        keys,
        points,
        x_ticks=x_ticks,
        y_ticks=_y_ticks(labels, v_low, v_high, top, bottom),
        lines=lines,
        dots=dots,
        left=left,
    )
