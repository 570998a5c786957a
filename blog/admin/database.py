"""Admin page for database monitoring, and the activity charts of the dashboard."""

from __future__ import annotations

from blog.admin.views import bp
from blog.auth.access import require_admin
from blog.core.charts import bar_chart, line_chart
from blog.core.htmx import render
from blog.ops.dashboard import daily_activity, recent_samples


@bp.get("/database")
@require_admin
def database():
    samples = recent_samples()
    latest = samples[-1] if samples else None
    return render(
        "admin/database.html",
        samples=samples,
        latest=latest,
        connections_chart=line_chart(
            [s.connections for s in samples], label="Connections, last 24 hours", low=0
        ),
        hit_ratio_chart=line_chart(
            [s.cache_hit_ratio for s in samples], label="Cache hit ratio, last 24 hours"
        ),
        size_chart=line_chart(
            [s.database_bytes / 1e6 for s in samples], label="Database size (MB), last 24 hours"
        ),
    )


def activity_charts() -> list[tuple[str, int, object]]:
    """(label, total, chart) per daily series, for the dashboard."""
    return [
        (d.label, d.total, bar_chart(d.counts, label=f"{d.label} per day, last 30 days"))
        for d in daily_activity()
    ]
