"""Handlers used only by the outbox tests (registered when this module is imported)."""

from __future__ import annotations

from sqlalchemy import text

from blog.extensions import db
from blog.outbox.registry import Message, handles


@handles("test.recorded", queue="default")
def record_effect(message: Message) -> None:
    """An effect with no unique key of its own: duplicates would show, the ledger prevents them."""
    db.session.execute(
        text(
            "INSERT INTO test_effects (event_id, aggregate_id, seq) "
            "VALUES (:event_id, :aggregate_id, :seq)"
        ),
        {
            "event_id": message["id"],
            "aggregate_id": message["aggregate_id"],
            "seq": message["data"]["seq"],
        },
    )


@handles("test.poisoned", queue="default", timeout=5)
def always_fail(message: Message) -> None:
    raise RuntimeError(f"poison: {message['id']}")


@handles("test.mixed", queue="default", timeout=5)
def record_unless_told_to_fail(message: Message) -> None:
    """Records like record_effect, but raises for an event whose data says `fail`."""
    if message["data"].get("fail"):
        raise RuntimeError(f"told to fail: {message['id']}")
    record_effect(message)
