"""Probes: /healthz (the process answers) and /readyz (its dependencies answer)."""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from flask import Blueprint, current_app, g, jsonify
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert

from blog.core.db import utcnow
from blog.core.redis import get_redis
from blog.extensions import db, limiter
from blog.ops.migrations import migration_heads
from blog.ops.models import HealthCheck

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)

COMPONENT = f"web:{socket.gethostname()}:{os.getpid()}"


@bp.get("/healthz")
@limiter.exempt
def healthz():
    return jsonify(status="ok")


def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = check() or {}
        result.setdefault("ok", True)
    except Exception as exc:  # noqa: BLE001 - any failure of a dependency is "not ready"
        log.warning("readiness check failed: %s", exc)
        result = {"ok": False, "error": type(exc).__name__ + ": " + str(exc).splitlines()[0]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


# The probe answers within about 2 s: each database check gives up after this long.
PROBE_TIMEOUT_MS = 1000


def _check_database() -> dict[str, Any]:
    if g.get("dbgate_busy"):
        raise TimeoutError("every database slot of this process is taken (a lock or slow query)")
    try:
        db.session.execute(
            text(
                f"SET LOCAL statement_timeout = {PROBE_TIMEOUT_MS}; "
                f"SET LOCAL lock_timeout = {PROBE_TIMEOUT_MS}"
            )
        )
        stmt = (
            insert(HealthCheck)
            .values(component=COMPONENT, status="ok", details={}, checked_at=utcnow())
            .on_conflict_do_update(
                index_elements=[HealthCheck.component],
                set_={"checked_at": utcnow(), "status": "ok"},
            )
        )
        db.session.execute(stmt)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return {}


def _check_redis() -> dict[str, Any]:
    get_redis().ping()
    return {}


def _check_migrations() -> dict[str, Any]:
    if g.get("dbgate_busy"):
        raise TimeoutError("no database slot free")
    current = set(db.session.scalars(text("SELECT version_num FROM alembic_version")))
    head = migration_heads(current_app)
    return {"ok": current == head, "current": sorted(current), "head": sorted(head)}


@bp.get("/readyz")
@limiter.exempt
def readyz():
    checks = {
        "database": _timed(_check_database),
        "redis": _timed(_check_redis),
        "migrations": _timed(_check_migrations),
    }
    ready = all(check["ok"] for check in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503
