"""Runtime settings: rows of the `configuration` table for this environment, read through a
short per-process cache, so a change takes effect in every process within seconds and without
a restart.

A value that cannot be read (database down, malformed row) never fails the request that asked:
the caller's default stands and the problem is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from blog.extensions import db
from blog.ops.models import Configuration

log = logging.getLogger(__name__)

# How long a process trusts what it read. Short enough that an operator's change is live almost
# at once; long enough that a hot path (a rate limit on every sign-in) costs no query.
CACHE_SECONDS = 5.0

_MISSING = object()
_cache: dict[tuple[str, str], tuple[float, Any]] = {}
_lock = threading.Lock()


def get_setting(key: str, default: Any = None) -> Any:
    """The JSON value stored under `key` for this environment, or `default` if there is none."""
    environment = current_app.config["ENV_NAME"]
    cache_key = (environment, key)
    now = time.monotonic()
    with _lock:
        cached = _cache.get(cache_key)
    if cached is not None and cached[0] > now:
        value = cached[1]
    else:
        value = _read(environment, key)
        with _lock:
            _cache[cache_key] = (now + CACHE_SECONDS, value)
    return default if value is _MISSING else value


def _read(environment: str, key: str) -> Any:
    # A separate connection, outside the request's transaction: a failed read here must not
    # poison the session the view goes on to use.
    try:
        with db.engine.connect() as connection:
            row = connection.execute(
                select(Configuration.value).where(
                    Configuration.key == key, Configuration.environment == environment
                )
            ).first()
    except SQLAlchemyError as exc:
        log.warning("configuration %r unreadable, using the default: %s", key, exc)
        return _MISSING
    return _MISSING if row is None else row[0]


def forget_settings() -> None:
    """Drop the cache (after a change made in this process, and between tests)."""
    with _lock:
        _cache.clear()
