"""Runtime settings: rows of the `configuration` table for this environment, changed from
/admin/settings and live in every process within seconds, without a restart.

This module sits below the features. It knows no key of its own: each feature registers the
keys it reads (`register_setting`: a description, a default and a JSON Schema), at import of
the module that reads them, so the registry never has to know a feature and no feature has to
know another's defaults. The admin page and the setting service (blog/ops) list the registry.

Reads go through two caches. Each process keeps what it read for CACHE_SECONDS (so a hot path,
such as the maintenance check on every request, costs no round trip); behind that, Redis holds
the environment's settings as one hash, rebuilt from PostgreSQL on a miss. A change commits
with a `config.changed` event whose handler drops the Redis copy (blog/ops/handlers.py), and the
process that made the change drops its own copies at once.

A value that cannot be read (database and Redis down, malformed row) never fails the request
that asked: the caller's default stands and the problem is logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from redis.exceptions import RedisError, WatchError
from sqlalchemy import column, select, table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import SQLAlchemyError

from blog.core.redis import get_redis
from blog.extensions import db

log = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
REDIS_TTL_SECONDS = 3600

# The columns this module reads of the `configuration` table (its model, with the columns the
# editor writes, is blog.ops.models.Configuration): core imports no feature's models.
_configuration = table(
    "configuration", column("environment"), column("key"), column("value", JSONB)
)


class SettingInvalid(ValueError):
    """The value does not fit its key's schema; the message says where and why."""


@dataclass(frozen=True)
class Setting:
    key: str
    description: str
    default: Any
    schema: dict[str, Any]
    check: Callable[[Any], str | None] | None = field(default=None)

    def validate(self, value: Any) -> None:
        error = best_match(Draft202012Validator(self.schema).iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            raise SettingInvalid(f"{where + ': ' if where else ''}{error.message}")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise SettingInvalid(problem)


# Every registered key, in registration order (the order of the admin page).
SETTINGS: dict[str, Setting] = {}


def register_setting(
    key: str,
    description: str,
    default: Any,
    schema: dict[str, Any],
    check: Callable[[Any], str | None] | None = None,
) -> Setting:
    """Declare a runtime setting a feature reads. Registering the same key twice with another
    definition is a programming error (two features would fight over one row)."""
    setting = Setting(key, description, default, schema, check)
    existing = SETTINGS.get(key)
    if existing is not None and (existing.default, existing.schema) != (default, schema):
        raise ValueError(f"runtime setting {key!r} is already registered differently")
    SETTINGS[key] = setting
    return setting


def setting_default(key: str) -> Any:
    return SETTINGS[key].default


_UNSET: Any = object()
_memory: dict[str, tuple[float, dict[str, Any] | None]] = {}
_lock = threading.Lock()


def _hash_key(environment: str) -> str:
    return f"blog:config:{environment}"


def _version_key(environment: str) -> str:
    return f"blog:config:{environment}:version"


def get_setting(key: str, default: Any = _UNSET) -> Any:
    """The value stored under `key` for this environment.

    Without a stored value: `default`, or the default its feature registered. A stored object
    is laid over a default object, so a new field gets its default until it is set.
    """
    if default is _UNSET:
        default = SETTINGS[key].default if key in SETTINGS else None
    values = _settings(current_app.config["ENV_NAME"])
    if values is None or key not in values:
        return default
    value = values[key]
    if isinstance(value, dict) and isinstance(default, dict):
        return {**default, **value}
    return value


def _settings(environment: str) -> dict[str, Any] | None:
    now = time.monotonic()
    with _lock:
        cached = _memory.get(environment)
    if cached is not None and cached[0] > now:
        return cached[1]
    values = _from_redis(environment)
    if values is None:
        values = _from_database(environment)
    with _lock:
        _memory[environment] = (now + CACHE_SECONDS, values)
    return values


def _from_redis(environment: str) -> dict[str, Any] | None:
    try:
        raw = get_redis().hgetall(_hash_key(environment))
    except RedisError as exc:
        log.warning("configuration cache unreachable, reading the database: %s", exc)
        return None
    if not raw:
        return None
    decoded = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
    return {k: json.loads(v) for k, v in decoded.items() if k != "__loaded__"}


UNDEFINED_TABLE = "42P01"  # SQLSTATE undefined_table


def _from_database(environment: str) -> dict[str, Any] | None:
    redis = get_redis()
    try:
        version = redis.get(_version_key(environment))
    except RedisError:
        version = _UNSET
    # A separate connection, outside the request's transaction: a failed read here must not
    # poison the session the view goes on to use.
    try:
        with db.engine.connect() as connection:
            rows = connection.execute(
                select(_configuration.c.key, _configuration.c.value).where(
                    _configuration.c.environment == environment
                )
            ).all()
    except SQLAlchemyError as exc:
        if getattr(getattr(exc, "orig", None), "pgcode", None) == UNDEFINED_TABLE:
            # Before the migrations have run (the first `make run`: the slow-statement log
            # reads its threshold while `flask db upgrade` works): the defaults are right, and
            # a warning about a missing table would only alarm.
            log.debug("configuration table not created yet: using the defaults")
            return None
        log.warning("configuration unreadable, using the defaults: %s", exc)
        return None
    values = {key: value for key, value in rows}
    if version is not _UNSET:
        _fill_redis(environment, values, version)
    return values


def _fill_redis(environment: str, values: dict[str, Any], version: Any) -> None:
    """Cache what was read, unless a change was invalidated meanwhile (the version moved):
    a reader that saw the old rows must not put them back after the invalidation."""
    try:
        with get_redis().pipeline() as pipe:
            pipe.watch(_version_key(environment))
            if pipe.get(_version_key(environment)) != version:
                return
            pipe.multi()
            key = _hash_key(environment)
            pipe.delete(key)
            # A marker field, so an environment with no rows is cached as "empty", not a miss.
            pipe.hset(
                key,
                mapping={"__loaded__": "1", **{k: json.dumps(v) for k, v in values.items()}},
            )
            pipe.expire(key, REDIS_TTL_SECONDS)
            pipe.execute()
    except WatchError:
        pass
    except RedisError as exc:
        log.warning("configuration cache not filled: %s", exc)


def invalidate_settings(environment: str) -> None:
    """Drop the Redis copy (and this process's): the next read rebuilds it from PostgreSQL."""
    forget_settings()
    redis = get_redis()
    with redis.pipeline() as pipe:
        pipe.incr(_version_key(environment))
        pipe.delete(_hash_key(environment))
        pipe.execute()


def forget_settings() -> None:
    """Drop this process's copies (after a change made here, and between tests)."""
    with _lock:
        _memory.clear()
