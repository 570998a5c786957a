"""`/metrics` for Prometheus: request latency by endpoint, database pool use, the PostgreSQL
cache hit ratio, queue depths and outbox lag.

Several gunicorn workers: prometheus-client's multiprocess mode (gunicorn.conf.py gives every
worker one PROMETHEUS_MULTIPROC_DIR and tells the library when a worker dies), so a scrape that
lands on any worker sees the sum over all of them. Figures that belong to the deployment rather
than a process (queues, outbox, the database) are read at scrape time.

Who may scrape: a client from BLOG_METRICS_ALLOW (addresses or networks; loopback by default)
or one presenting `Authorization: Bearer $BLOG_METRICS_TOKEN`. Anyone else gets a 404.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from blog.extensions import db, limiter

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

REQUEST_SECONDS = Histogram(
    "blog_http_request_duration_seconds",
    "Time to answer an HTTP request, by endpoint.",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REQUESTS = Counter(
    "blog_http_requests_total", "HTTP requests answered.", ["endpoint", "method", "status"]
)
POOL_CHECKED_OUT = Gauge(
    "blog_db_pool_checked_out",
    "Database connections in use by the web processes.",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "blog_db_pool_size", "Database pool size of the web processes.", multiprocess_mode="livesum"
)


def init_metrics(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is None:
            return response
        # The rule's endpoint, never the raw path: label values must stay a small set.
        endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
        REQUEST_SECONDS.labels(endpoint, request.method).observe(time.perf_counter() - started)
        REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        try:
            pool = db.engine.pool
            POOL_CHECKED_OUT.set(pool.checkedout())  # type: ignore[attr-defined]
            POOL_SIZE.set(pool.size())  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001, S110 - a pool figure must never fail a request
            pass
        return response


class DeploymentCollector(Collector):
    """Figures read at scrape time from PostgreSQL and Redis."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from blog.jobs.inspect import queue_depths
        from blog.outbox.services import outbox_stats

        try:
            depth = GaugeMetricFamily(
                "blog_queue_jobs", "Jobs in each RQ queue, by state.", labels=["queue", "state"]
            )
            for q in queue_depths():
                for state, value in (
                    ("queued", q.queued),
                    ("started", q.started),
                    ("scheduled", q.scheduled),
                    ("failed", q.failed),
                ):
                    depth.add_metric([q.name, state], value)
            yield depth
        except Exception as exc:  # noqa: BLE001 - Redis down: the other figures still count
            log.warning("metrics: queue depths unavailable: %s", exc)
        try:
            stats = outbox_stats()
            yield GaugeMetricFamily(
                "blog_outbox_pending_events",
                "Outbox events not yet published.",
                float(stats["pending"]),  # type: ignore[arg-type]
            )
            yield GaugeMetricFamily(
                "blog_outbox_parked_events",
                "Outbox events parked after failures.",
                float(stats["parked"]),  # type: ignore[arg-type]
            )
            yield GaugeMetricFamily(
                "blog_outbox_lag_seconds",
                "Age of the oldest unpublished outbox event (0 when none).",
                float(stats["oldest_pending_age_seconds"] or 0),  # type: ignore[arg-type]
            )
            hit, read = db.session.execute(
                text(
                    "SELECT coalesce(sum(blks_hit), 0), coalesce(sum(blks_read), 0) "
                    "FROM pg_stat_database WHERE datname = current_database()"
                )
            ).one()
            total = float(hit) + float(read)
            yield GaugeMetricFamily(
                "blog_db_cache_hit_ratio",
                "Share of PostgreSQL block reads served from its buffer cache.",
                float(hit) / total if total else 1.0,
            )
        except Exception as exc:  # noqa: BLE001 - database down: say so in the log, not a 500
            log.warning("metrics: database figures unavailable: %s", exc)
        finally:
            db.session.rollback()


_deployment = CollectorRegistry(auto_describe=False)
_deployment.register(DeploymentCollector())


def _allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in current_app.config["METRICS_ALLOW"])


@bp.get("/metrics")
@limiter.exempt
def metrics() -> Response:
    if not _allowed():
        abort(404)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    body += generate_latest(_deployment)
    return Response(
        body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
    )
