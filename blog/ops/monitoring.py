"""Database monitoring: the application's own slow-statement log, and a sample of the database's
health every 5 minutes (connections, cache hit ratio, sizes, the slowest statements).

The slow log times every statement the application runs (SQLAlchemy's cursor events) and keeps
those over `monitoring.slow_query_ms` in a short Redis list, shared by every process; the cron
job folds that list into a `db_samples` row and empties it. No extension (pg_stat_statements)
is needed, so it works on any managed PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import delete, event, text

from blog.core.db import utcnow
from blog.core.settings import get_setting, register_setting
from blog.extensions import db
from blog.ops.models import DbSample

log = logging.getLogger(__name__)

SLOW_LOG_KEY = "blog:slowlog"
SLOW_LOG_LENGTH = 500
KEEP_SAMPLES = timedelta(days=30)
_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_SPACE = re.compile(r"\s+")


def normalise_statement(statement: str) -> str:
    """One shape per statement: literals replaced, whitespace folded, at most 500 characters.
    (Bound parameters are already placeholders; literals written into SQL are not.)"""
    return _SPACE.sub(" ", _LITERALS.sub("?", statement)).strip()[:500]


def init_slow_log(app: Flask) -> None:
    """Time every statement of this app's engine; keep the slow ones."""
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info.setdefault("blog_query_started", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _stop(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started = conn.info.get("blog_query_started")
        if not started:
            return
        elapsed_ms = (time.perf_counter() - started.pop()) * 1000
        if elapsed_ms >= _threshold_ms(app):
            _record_slow_statement(app, statement, elapsed_ms)


MONITORING = register_setting(
    "monitoring",
    "Database monitoring: statements slower than slow_query_ms (milliseconds) are "
    "kept in the slow-statement log shown on /admin/database.",
    {"slow_query_ms": 200},
    {
        "type": "object",
        "properties": {"slow_query_ms": {"type": "integer", "minimum": 1, "maximum": 600000}},
        "additionalProperties": False,
    },
)


_threshold = {"value": 200.0, "until": 0.0}
_guard = threading.local()


def _threshold_ms(app: Flask) -> float:
    """The threshold from the settings, re-read every few seconds. Reading the settings runs a
    statement itself: the guard stops that statement from asking again (recursion)."""
    now = time.monotonic()
    if now < _threshold["until"] or getattr(_guard, "busy", False):
        return _threshold["value"]
    _guard.busy = True
    try:
        with app.app_context():
            _threshold["value"] = float(get_setting("monitoring")["slow_query_ms"])
    except Exception:  # noqa: BLE001, S110 - timing must never break a statement
        pass
    finally:
        _threshold["until"] = now + 5
        _guard.busy = False
    return _threshold["value"]


def _record_slow_statement(app: Flask, statement: str, elapsed_ms: float) -> None:
    """A log line, not business state: written to Redis at once, even inside a transaction."""
    try:
        from blog.core.redis import get_redis

        entry = json.dumps(
            {"statement": normalise_statement(statement), "ms": round(elapsed_ms, 1)}
        )
        with app.app_context():
            pipe = get_redis().pipeline(transaction=False)
            pipe.lpush(SLOW_LOG_KEY, entry)
            pipe.ltrim(SLOW_LOG_KEY, 0, SLOW_LOG_LENGTH - 1)
            pipe.execute()
    except Exception as exc:  # noqa: BLE001 - Redis down: the statement itself succeeded
        log.debug("slow statement not recorded: %s", exc)


def _slow_statements(limit: int = 10) -> list[dict[str, Any]]:
    """Drain the slow log into the slowest statements by shape."""
    from blog.core.redis import get_redis

    redis = get_redis()
    pipe = redis.pipeline()
    pipe.lrange(SLOW_LOG_KEY, 0, -1)
    pipe.delete(SLOW_LOG_KEY)
    raw, _ = pipe.execute()
    timings: dict[str, list[float]] = defaultdict(list)
    for item in raw:
        try:
            entry = json.loads(item)
            timings[str(entry["statement"])].append(float(entry["ms"]))
        except (ValueError, KeyError, TypeError):
            continue
    ranked = sorted(timings.items(), key=lambda kv: max(kv[1]), reverse=True)[:limit]
    return [
        {
            "statement": statement,
            "calls": len(ms),
            "max_ms": round(max(ms), 1),
            "mean_ms": round(sum(ms) / len(ms), 1),
        }
        for statement, ms in ranked
    ]


def sample_database() -> DbSample:
    """The cron job (every 5 minutes): record one sample, drop samples older than 30 days."""
    connections = db.session.scalar(
        text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
    )
    hit, read = db.session.execute(
        text(
            "SELECT coalesce(blks_hit, 0), coalesce(blks_read, 0) FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
    ).one()
    total = float(hit) + float(read)
    sizes = db.session.execute(
        text(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname = current_schema() "
            "ORDER BY 2 DESC LIMIT 30"
        )
    ).all()
    sample = DbSample(
        taken_at=utcnow(),
        connections=int(connections or 0),
        cache_hit_ratio=float(hit) / total if total else 1.0,
        database_bytes=int(
            db.session.scalar(text("SELECT pg_database_size(current_database())")) or 0
        ),
        table_sizes={name: int(size) for name, size in sizes},
        slow_statements=_slow_statements(),
    )
    db.session.add(sample)
    db.session.execute(delete(DbSample).where(DbSample.taken_at < utcnow() - KEEP_SAMPLES))
    db.session.commit()
    return sample
