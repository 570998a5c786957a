"""Reading the audit log: the admins' filterable page and the public moderation log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, select, tuple_

from blog.audit.models import AuditLog
from blog.auth.models import User
from blog.core.pagination import decode_cursor, encode_cursor
from blog.extensions import db

PAGE_SIZE = 50
# Staff actions on public content: what the public moderation log shows.
PUBLIC_ACTIONS = ("post.archive", "post.restore", "comment.remove", "comment.restore")


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    entity_type: str = ""
    entity_id: str = ""
    actor: str = ""  # a user name


@dataclass(frozen=True)
class Entry:
    log: AuditLog
    actor_name: str | None


@dataclass(frozen=True)
class EntryPage:
    entries: list[Entry]
    next_cursor: str | None


def _entries(query: Select, cursor: str | None) -> EntryPage:
    position = decode_cursor(cursor)
    if position is not None:
        query = query.where(tuple_(AuditLog.created_at, AuditLog.id) < tuple_(*position))
    rows = db.session.execute(
        query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(PAGE_SIZE + 1)
    ).all()
    entries = [Entry(log, name) for log, name in rows[:PAGE_SIZE]]
    more = len(rows) > PAGE_SIZE
    last = entries[-1].log if more and entries else None
    return EntryPage(entries, encode_cursor(last.created_at, last.id) if last else None)


def _with_actor() -> Select:
    # One statement: the actor's name comes with the row (no FK by design: see the model).
    return select(AuditLog, User.user_name).outerjoin(User, User.id == AuditLog.actor_id)


def search_audit(filters: AuditFilter, cursor: str | None = None) -> EntryPage:
    query = _with_actor()
    if filters.action:
        query = query.where(AuditLog.action.startswith(filters.action, autoescape=True))
    if filters.entity_type:
        query = query.where(AuditLog.entity_type == filters.entity_type)
    if filters.entity_id:
        query = query.where(AuditLog.entity_id == filters.entity_id)
    if filters.actor:
        query = query.where(User.user_name == filters.actor)
    return _entries(query, cursor)


def moderation_log(cursor: str | None = None) -> EntryPage:
    return _entries(_with_actor().where(AuditLog.action.in_(PUBLIC_ACTIONS)), cursor)


def post_titles(entries: list[Entry]) -> dict[str, tuple[str, str]]:
    """Title and slug of the posts a page of entries speaks of, in one statement."""
    from blog.posts.models import Post

    ids = []
    for entry in entries:
        if entry.log.entity_type == "post" and entry.log.entity_id:
            try:
                ids.append(uuid.UUID(entry.log.entity_id))
            except ValueError:
                continue
    if not ids:
        return {}
    rows = db.session.execute(select(Post.id, Post.title, Post.slug).where(Post.id.in_(ids)))
    return {str(i): (title, slug) for i, title, slug in rows}
