from __future__ import annotations

import pytest
from sqlalchemy import text

import tests.outbox.handlers  # noqa: F401 - registers the test handlers in this process
from blog.extensions import db


@pytest.fixture
def effects_table(app):
    """A scratch table for the test handler's effects (test data, not schema)."""
    with app.app_context():
        db.session.execute(
            text(
                "CREATE TABLE IF NOT EXISTS test_effects ("
                " id bigserial PRIMARY KEY, event_id uuid NOT NULL,"
                " aggregate_id text NOT NULL, seq int NOT NULL)"
            )
        )
        db.session.commit()
    yield
    with app.app_context():
        db.session.execute(text("DROP TABLE IF EXISTS test_effects"))
        db.session.commit()
