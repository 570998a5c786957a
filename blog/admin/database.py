"""Admin page for database monitoring, and the activity charts of the dashboard."""

from __future__ import annotations

import re
from datetime import timedelta

from blog.admin.views import bp
from blog.auth.access import require_admin
from blog.core.charts import Chart, bar_chart, line_chart
from blog.core.htmx import render
from blog.ops.dashboard import daily_activity, recent_samples

# The cron job samples every 5 minutes: a longer silence (cron stopped) breaks the line rather
# than drawing a straight segment across hours nobody measured.
SAMPLE_GAP = timedelta(minutes=15)

# What each daily series counts, for "5 sign-ups" in the tooltips.
NOUNS = {
    "Sign-ups": ("sign-up", "sign-ups"),
    "Posts published": ("post", "posts"),
    "Comments": ("comment", "comments"),
    "Chat messages": ("message", "messages"),
}


@bp.get("/database")
@require_admin
def database():
    samples = recent_samples()
    latest = samples[-1] if samples else None
    times = [s.taken_at for s in samples]
    return render(
        "admin/database.html",
        samples=samples,
        latest=latest,
        connections_chart=line_chart(
            "chart-connections",
            title="Connections, last 24 hours",
            times=times,
            values=[s.connections for s in samples],
            value_heading="Connections",
            noun=("connection", "connections"),
            low=0,
            gap=SAMPLE_GAP,
        ),
        hit_ratio_chart=line_chart(
            "chart-cache-hit-ratio",
            title="Cache hit ratio, last 24 hours",
            times=times,
            values=[s.cache_hit_ratio * 100 for s in samples],
            value_heading="Cache hit ratio",
            unit=" %",
            decimals=2,
            high=100,
            gap=SAMPLE_GAP,
        ),
        size_chart=line_chart(
            "chart-database-size",
            title="Database size, last 24 hours",
            times=times,
            values=[s.database_bytes / 1e6 for s in samples],
            value_heading="Size",
            unit=" MB",
            decimals=1,
            gap=SAMPLE_GAP,
        ),
    )


def activity_charts() -> list[Chart]:
    """One bar chart per daily series, for the dashboard."""
    return [
        bar_chart(
            "chart-" + re.sub(r"[^a-z0-9]+", "-", d.label.lower()).strip("-"),
            title=f"{d.label} per day",
            days=d.days,
            counts=d.counts,
            noun=NOUNS.get(d.label, ("item", "items")),
            value_heading=d.label,
        )
        for d in daily_activity()
    ]
