"""The relay job: publish due events to Redis and enqueue their handlers, in order."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from redis.exceptions import RedisError
from rq import Queue, Retry
from sqlalchemy import Row, Text, cast, exists, func, select, text

from blog.core.db import utcnow
from blog.core.redis import get_redis
from blog.extensions import db
from blog.outbox.events import TRIGGER_KEY
from blog.outbox.models import OutboxEvent, build_message
from blog.outbox.registry import RETRY_INTERVALS, Handler, Message, handlers_for

log = logging.getLogger(__name__)

STREAM = "blog:events"
STREAM_MAXLEN = 100_000  # approximate trim: the stream is a live feed, PostgreSQL the record
BATCH_SIZE = 1000
HANDLER_BATCH = 100  # events in one handler job at most
MAX_BATCH_TIMEOUT = 600  # seconds: a batch job's timeout is its handler's per event, up to this
BACKOFF_SECONDS = (1, 2, 4, 8, 16)  # then 16 s (the cap) until parked
MAX_ATTEMPTS = 10
HANDLER_FAILURE_TTL = 7 * 24 * 3600
# pg_try_advisory_lock key: one relay at a time keeps each aggregate's events in order.
RELAY_LOCK_KEY = 0x626C6F67_0001


def backoff(retry_count: int) -> timedelta:
    """The wait after the `retry_count`-th failed attempt (1-based)."""
    index = min(max(retry_count, 1), len(BACKOFF_SECONDS)) - 1
    return timedelta(seconds=BACKOFF_SECONDS[index])


def relay_outbox() -> int:
    """Publish every due event, batch by batch. Returns how many were published.

    Safe to run any number of times at once: all but one return at once.
    """
    redis = get_redis()
    try:
        # From here on, a commit must enqueue a new relay: this one may already be past
        # its events.
        redis.delete(TRIGGER_KEY)
    except RedisError as exc:
        # Go on: the publish attempt below records the failure and backs the events off.
        log.warning("outbox relay: Redis unavailable: %s", exc)
    published = 0
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock_conn:
        if not lock_conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": RELAY_LOCK_KEY}):
            return 0
        try:
            while True:
                count, full = _relay_batch(redis)
                published += count
                if not full:
                    break
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RELAY_LOCK_KEY})
    return published


# What the relay reads of a claimed event: plain rows, not ORM objects (a third of the relay's
# time went to building objects), with the JSON passed through as text (no parse + dump).
_CLAIM_COLUMNS = (
    OutboxEvent.id,
    OutboxEvent.position,
    OutboxEvent.event_type,
    OutboxEvent.aggregate_type,
    OutboxEvent.aggregate_id,
    OutboxEvent.occurred_at,
    cast(OutboxEvent.event_data, Text).label("data_json"),
)


def _claim_due_events(now) -> list[Row]:
    # An event waits while an earlier event of its aggregate is unpublished and not due
    # (backing off) or parked: publishing it first would break the aggregate's order.
    # `blocked` holds, per waiting aggregate, its first such event. MATERIALIZED: it is
    # computed once per claim, from the pending events only. As a correlated NOT EXISTS the
    # planner re-ran it for every candidate whenever its statistics said little was pending,
    # which is exactly the state after an outage: 24 s per claim with 20,000 pending events
    # and 200,000 published ones (benchmarks/outbox_relay.py).
    blocked = (
        select(
            OutboxEvent.aggregate_type,
            OutboxEvent.aggregate_id,
            func.min(OutboxEvent.position).label("position"),
        )
        .where(
            OutboxEvent.published_at.is_(None),
            (OutboxEvent.next_attempt_at > now) | OutboxEvent.parked_at.is_not(None),
        )
        .group_by(OutboxEvent.aggregate_type, OutboxEvent.aggregate_id)
        .cte("blocked")
        .prefix_with("MATERIALIZED")
    )
    waits = exists().where(
        blocked.c.aggregate_type == OutboxEvent.aggregate_type,
        blocked.c.aggregate_id == OutboxEvent.aggregate_id,
        blocked.c.position < OutboxEvent.position,
    )
    # FOR UPDATE SKIP LOCKED, never a "highest id seen" watermark: a transaction that
    # commits late still has its events found here.
    return list(
        db.session.execute(
            select(*_CLAIM_COLUMNS)
            .where(
                OutboxEvent.published_at.is_(None),
                OutboxEvent.parked_at.is_(None),
                OutboxEvent.next_attempt_at <= now,
                ~waits,
            )
            .order_by(OutboxEvent.position)
            .limit(BATCH_SIZE)
            .with_for_update(skip_locked=True, of=OutboxEvent)
        )
    )


def _relay_batch(redis) -> tuple[int, bool]:
    now = utcnow()
    events = _claim_due_events(now)
    if not events:
        db.session.commit()
        return 0, False
    try:
        publish_events_rollback_unsafe(redis, events)
    except Exception as exc:
        _record_failure([event.position for event in events], now, exc)
        db.session.commit()
        if isinstance(exc, RedisError):
            log.warning("outbox relay: publishing %d events failed: %s", len(events), exc)
        else:
            log.exception("outbox relay: publishing %d events failed", len(events))
        return 0, False
    # One UPDATE for the whole batch: setting the attribute on each object made the ORM send
    # one UPDATE per row (executemany: 500 round trips), over half of the relay's time.
    db.session.execute(
        text("UPDATE domain_event_outbox SET published_at = :now WHERE position = ANY(:positions)"),
        {"now": now, "positions": [event.position for event in events]},
    )
    db.session.commit()
    return len(events), len(events) == BATCH_SIZE


def publish_events_rollback_unsafe(redis, events: list[Row]) -> None:
    """XADD every event and enqueue its handlers in one MULTI/EXEC.

    Each handler gets one job per HANDLER_BATCH of the batch's events that it handles, in
    their order (blog.outbox.registry.run_handler_batch): at 50 events a second, a job (and a
    transaction, and a round of badges) per event was where the time went.

    Runs inside the claiming transaction, before it commits: if that commit then fails the
    events are published again later, which at-least-once delivery allows (handlers dedupe).
    """
    by_handler: dict[Handler, list[Message]] = {}
    with redis.pipeline(transaction=True) as pipe:
        for event in events:
            event_id = str(event.id)
            pipe.xadd(
                STREAM,
                {
                    "id": event_id,
                    "type": event.event_type,
                    "aggregate_type": event.aggregate_type,
                    "aggregate_id": event.aggregate_id,
                    "position": event.position,
                    "occurred_at": event.occurred_at.isoformat(),
                    "data": event.data_json,
                },
                maxlen=STREAM_MAXLEN,
                approximate=True,
            )
            handlers = handlers_for(event.event_type)
            if handlers:
                message = build_message(event, json.loads(event.data_json))
                for handler in handlers:
                    by_handler.setdefault(handler, []).append(message)
        by_queue: dict[str, list] = {}
        for handler, messages in by_handler.items():
            for start in range(0, len(messages), HANDLER_BATCH):
                chunk = messages[start : start + HANDLER_BATCH]
                by_queue.setdefault(handler.queue, []).append(_handler_job(handler, chunk))
        for queue_name, job_datas in by_queue.items():
            Queue(queue_name, connection=redis).enqueue_many(job_datas, pipeline=pipe)
        pipe.execute()


def _handler_job(handler: Handler, messages: list[Message]) -> Any:
    first = messages[0]["id"]
    more = f" +{len(messages) - 1}" if len(messages) > 1 else ""
    return Queue.prepare_data(
        "blog.outbox.registry.run_handler_batch",
        args=(handler.name, messages),
        job_id=handler_job_id(first, handler.name),
        # The handler's own timeout is for one event.
        timeout=min(handler.timeout * len(messages), MAX_BATCH_TIMEOUT),
        retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
        result_ttl=3600,
        failure_ttl=HANDLER_FAILURE_TTL,
        description=f"{handler.name}({messages[0]['type']} {first}{more})",
    )


def handler_job_id(event_id: str, handler_name: str) -> str:
    """The job of the batch that starts with this event: deterministic, so a re-relayed batch
    re-enqueues the same job (RQ allows [A-Za-z0-9_-])."""
    return f"evt-{event_id}-{handler_name.replace('.', '_')}"


def _record_failure(positions: list[int], now, exc: Exception) -> None:
    """Back the events off (or park them). A rare path: plain ORM is fine here."""
    error = f"{type(exc).__name__}: {exc}"[:2000]
    db.session.rollback()  # a failed statement may have aborted the claiming transaction
    events = db.session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.position.in_(positions))
        .with_for_update(skip_locked=True)
    )
    for event in events:
        event.retry_count += 1
        event.last_error = error
        if event.retry_count >= MAX_ATTEMPTS:
            event.parked_at = now
        else:
            event.next_attempt_at = now + backoff(event.retry_count)


def sweep_outbox() -> int:
    """Cron's entry point (every 5 s): run the relay unless one is already queued.

    Cron does not take the trigger key itself: if a relay is queued it will see every event.
    """
    return relay_outbox()
