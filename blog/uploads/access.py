"""Who may fetch an upload. One function answers (`access_file`); the rules per purpose are a
small registry, so a feature that gives uploads a use adds its rule without this file
changing: the chat module will register `@file_rule("chat")` (the sender and the
conversation's participants), and until it does, chat uploads are their owner's alone.

Each rule answers "may this viewer (None: anybody, signed in or not) see this file?". The
owner always may. Everyone else gets 404, never 403: a private upload's existence is private.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import abort
from sqlalchemy import exists, select

from blog.auth.models import User
from blog.extensions import db
from blog.uploads.models import FileMetadata

FileRule = Callable[[FileMetadata, Any], bool]
_RULES: dict[str, list[FileRule]] = {}


def file_rule(*purposes: str) -> Callable[[FileRule], FileRule]:
    """Register a rule that can make uploads of these purposes visible beyond their owner."""

    def decorator(fn: FileRule) -> FileRule:
        for purpose in purposes:
            rules = _RULES.setdefault(purpose, [])
            if fn not in rules:
                rules.append(fn)
        return fn

    return decorator


def is_owner(file: FileMetadata, viewer: Any) -> bool:
    return bool(viewer is not None and viewer.is_authenticated and viewer.id == file.uploader_id)


def is_public(file: FileMetadata) -> bool:
    """Anybody may see it (so a shared cache may keep it)."""
    return any(rule(file, None) for rule in _RULES.get(file.purpose, ()))


def access_file(viewer: Any, file_id: uuid.UUID) -> tuple[FileMetadata, bool]:
    """The upload and whether it is public, or 404 for anyone who may not see it."""
    file = db.session.get(FileMetadata, file_id)
    if file is None:
        abort(404)
    if is_public(file):
        return file, True
    if is_owner(file, viewer):
        return file, False
    signed_in = viewer if viewer is not None and viewer.is_authenticated else None
    if signed_in is not None and any(
        rule(file, signed_in) for rule in _RULES.get(file.purpose, ())
    ):
        return file, False
    abort(404)


@file_rule("avatar")
def current_avatar(file: FileMetadata, viewer: Any) -> bool:
    """Someone's avatar is public while it is their avatar and their account exists."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    User.avatar_file_id == file.id,
                    User.id == file.uploader_id,
                    User.deleted_at.is_(None),
                )
            )
        )
    )


@file_rule("post_image", "attachment")
def in_published_post(file: FileMetadata, viewer: Any) -> bool:
    """Public once its uploader's own published, visible post links it (`/files/<id>`).

    Only the uploader's posts count: linking someone else's private upload in your post does
    not publish it. The author's index keeps this to their posts.
    """
    from blog.posts.models import Post

    return bool(
        db.session.scalar(
            select(
                exists().where(
                    Post.author_id == file.uploader_id,
                    Post.status == "published",
                    Post.hidden_at.is_(None),
                    Post.content.contains(f"/files/{file.id}"),
                )
            )
        )
    )
