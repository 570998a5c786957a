"""Issue 15 §8i: the first `make run` logged `relation "configuration" does not exist` while
the migrations ran (the slow-statement log reads its threshold from the runtime settings)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from blog.core.settings import forget_settings, get_setting

EMPTY_DB = "blog_test_empty_schema"


@pytest.fixture
def empty_database_url(database_url):
    parts = urlsplit(database_url)
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")).replace("+psycopg2", ""))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {EMPTY_DB} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {EMPTY_DB}")
    yield urlunsplit(parts._replace(path="/" + EMPTY_DB))
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {EMPTY_DB} WITH (FORCE)")
    admin.close()


def test_settings_read_before_the_migrations_use_the_defaults_quietly(
    app, make_app, empty_database_url, caplog
):
    fresh = make_app(DATABASE_URL=empty_database_url)
    forget_settings()
    caplog.set_level(logging.DEBUG, logger="blog.core.settings")
    with fresh.app_context():
        value = get_setting("monitoring")
        from blog.extensions import db

        db.engine.dispose()
    forget_settings()

    assert value["slow_query_ms"] > 0  # the default
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [], [r.getMessage() for r in warnings]
