"""Which jobs handle which events, and the wrapper that makes every handler idempotent."""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from rq.timeouts import JobTimeoutException
from sqlalchemy.dialects.postgresql import insert
from werkzeug.utils import import_string

from blog.extensions import db
from blog.outbox.models import HandlerRun

log = logging.getLogger(__name__)

Message = dict[str, Any]
HandlerFunc = Callable[[Message], None]

# Retries of a failing handler: exactly one interval per retry (RQ repeats the first
# interval when given fewer, field notes), then RQ's failed registry keeps the error.
RETRY_INTERVALS = (1, 2, 4, 8, 16)

# Feature modules whose import registers handlers. A feature adds its own here.
HANDLER_MODULES: tuple[str, ...] = (
    "blog.auth.handlers",
    "blog.chat.handlers",
    "blog.exports.handlers",  # --- exports
    "blog.notifications.handlers",
    "blog.ops.handlers",
    "blog.reactions.handlers",
    "blog.uploads.handlers",
)


@dataclass(frozen=True)
class Handler:
    name: str  # the dotted path of the function: stable, and what the job calls
    queue: str
    timeout: int


_registry: dict[str, list[Handler]] = {}


def handles(
    *event_types: str, queue: str = "default", timeout: int = 30
) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register a function `fn(message)` as a handler of these event types.

    The function runs as an RQ job after the event is published, at least once: the wrapper
    skips an (event, handler) pair that already completed, in the handler's own transaction.
    """

    def decorator(fn: HandlerFunc) -> HandlerFunc:
        handler = Handler(name=f"{fn.__module__}.{fn.__qualname__}", queue=queue, timeout=timeout)
        for event_type in event_types:
            registered = _registry.setdefault(event_type, [])
            if handler not in registered:
                registered.append(handler)
        return fn

    return decorator


def handlers_for(event_type: str) -> list[Handler]:
    return list(_registry.get(event_type, ()))


def load_handler_modules(app: Flask) -> None:
    for module in (*HANDLER_MODULES, *app.config.get("OUTBOX_EXTRA_HANDLER_MODULES", ())):
        importlib.import_module(module)


class HandlerBatchFailed(RuntimeError):
    """Some events of a batch failed in their handler; the others are done (and skipped on the
    retry)."""


def run_handler_batch(handler_name: str, messages: list[Message]) -> str:
    """The job behind a handler for a batch of events (blog.outbox.relay enqueues one per
    handler per relay batch): each event once, whatever the redeliveries.

    All of them in one transaction first — one ledger statement, one commit, and one round of
    after-commit work (badges, mail jobs) for the lot. If a handler raises, that transaction is
    rolled back and each event runs on its own (run_handler), so a bad event holds up nobody
    else; the job then fails with the bad ones' errors and RQ retries it, which finds the good
    ones in the ledger and skips them.
    """
    fn: HandlerFunc = import_string(handler_name)
    try:
        claimed = set(
            db.session.scalars(
                insert(HandlerRun)
                .values(
                    [{"event_id": uuid.UUID(m["id"]), "handler": handler_name} for m in messages]
                )
                .on_conflict_do_nothing(index_elements=["event_id", "handler"])
                .returning(HandlerRun.event_id)
            )
        )
        for message in messages:
            if uuid.UUID(message["id"]) in claimed:
                fn(message)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        if len(messages) == 1 or isinstance(exc, JobTimeoutException):
            raise
        log.warning(
            "%s failed in a batch of %d: running them one by one",
            handler_name,
            len(messages),
            exc_info=True,
        )
    else:
        skipped = len(messages) - len(claimed)
        if skipped:
            log.info("%s: %d of %d events already handled", handler_name, skipped, len(messages))
        return "done" if not skipped else f"done, {skipped} skipped"
    failed: list[str] = []
    for message in messages:
        try:
            run_handler(handler_name, message)
        except JobTimeoutException:
            raise
        except Exception as exc:
            log.exception("%s failed for event %s", handler_name, message["id"])
            failed.append(f"{message['id']}: {type(exc).__name__}: {exc}")
    if failed:
        raise HandlerBatchFailed(
            f"{handler_name}: {len(failed)} of {len(messages)} events failed: " + "; ".join(failed)
        )
    return "done one by one"


def run_handler(handler_name: str, message: Message) -> str:
    """The job behind every handler: run it once per event, whatever the redeliveries."""
    fn: HandlerFunc = import_string(handler_name)
    # Claim the (event, handler) pair first, in the same transaction as the handler's writes.
    # A concurrent duplicate waits on the unique index, then sees the conflict and skips.
    claimed = db.session.execute(
        insert(HandlerRun)
        .values(event_id=uuid.UUID(message["id"]), handler=handler_name)
        .on_conflict_do_nothing(index_elements=["event_id", "handler"])
        .returning(HandlerRun.id)
    ).first()
    if claimed is None:
        db.session.rollback()
        log.info("skipping %s for event %s: already handled", handler_name, message["id"])
        return "skipped"
    try:
        fn(message)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return "done"
