"""What a data download holds: a list of sections, each a name and a function yielding rows.

A section's rows become `<name>.json` in the ZIP; a section may also add files of its own per
row (`attach`: each post as Markdown and HTML, each upload's bytes). Rows are read by keyset in
batches of BATCH (never everything at once), and a section reads only what belongs to the
person: rows they wrote, sent, uploaded or received — never another person's private data
(their messages, their email address, anyone's secrets or token hashes).

A feature that stores more of a person's data adds one line to SECTIONS, e.g.
    Section("reactions", reaction_rows, "Your reactions.", purge=purge_reactions),
with `reaction_rows(user_id)` yielding plain dicts (see `keyset` below) and
`purge_reactions(user_ids)` deleting them when a deleted account's retention has passed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import delete, func, or_, select, update

from blog.auth.models import Account, User, UserSession
from blog.chat.models import Conversation, Message
from blog.comments.models import Comment
from blog.extensions import db
from blog.notifications.models import (
    Follow,
    Notification,
    NotificationPreference,
    PushSubscription,
)
from blog.posts.models import Post, Tag, post_tags
from blog.reactions.models import Bookmark, CommentReaction, PostReaction
from blog.safety.models import MessagingPreference, UserScreen
from blog.uploads.models import FileMetadata
from blog.uploads.services import forget_upload
from blog.uploads.storage import get_storage

BATCH = 500

Row = dict[str, Any]
# (path in the ZIP, bytes or a function opening a stream of them)
Attachment = tuple[str, bytes | Callable[[], BinaryIO]]


@dataclass(frozen=True)
class Section:
    name: str  # the JSON file's name without `.json`
    rows: Callable[[uuid.UUID], Iterator[Row]]
    about: str  # its line in README.txt
    attach: Callable[[Row], Iterator[Attachment]] | None = None
    single: bool = False  # one object rather than a list (the profile)
    # Erases what the section lists, for accounts whose retention has passed (blog/auth/jobs.py
    # purge_deleted_accounts calls purge_sections): what the download lists, the purge deletes.
    purge: Callable[[list[uuid.UUID]], None] | None = None


def keyset(stmt: Any, id_column: Any, batch: int = BATCH) -> Iterator[list[Row]]:
    """`stmt`'s rows (labelled columns, one of them `id_column` as "id") in batches of
    `batch`, by keyset on the id: each batch is its own statement, memory stays flat."""
    last: Any = None
    while True:
        query = stmt.order_by(id_column).limit(batch)
        if last is not None:
            query = query.where(id_column > last)
        rows = [dict(r) for r in db.session.execute(query).mappings()]
        if rows:
            yield rows
        if len(rows) < batch:
            return
        last = rows[-1]["id"]


def _flat(stmt: Any, id_column: Any) -> Iterator[Row]:
    for rows in keyset(stmt, id_column):
        yield from rows


# --------------------------------------------------------------------------- the sections


def profile_rows(user_id: uuid.UUID) -> Iterator[Row]:
    row = (
        db.session.execute(
            select(
                User.id,
                User.email,
                User.user_name,
                User.display_name,
                User.bio,
                User.role,
                User.provider,
                User.status,
                User.theme,
                User.avatar_file_id,
                User.created_at,
                User.email_verified_at,
                User.last_login_at,
            ).where(User.id == user_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        return
    profile = dict(row)
    # The external identities that sign in as this person (the subject is the provider's id
    # for them; nothing secret is stored with it).
    profile["sign_in_identities"] = [
        dict(r)
        for r in db.session.execute(
            select(Account.provider, Account.email, Account.created_at, Account.last_used_at)
            .where(Account.user_id == user_id)
            .order_by(Account.created_at)
        ).mappings()
    ]
    yield profile


def _safe_name(text: str, fallback: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:80]
    return name or fallback


def post_rows(user_id: uuid.UUID) -> Iterator[Row]:
    stmt = select(
        Post.id,
        Post.title,
        Post.slug,
        Post.status,
        Post.created_at,
        Post.updated_at,
        Post.published_at,
        Post.scheduled_at,
        Post.archived_at,
        Post.view_count,
        Post.content.label("content_markdown"),
        Post.content_html,
    ).where(Post.author_id == user_id)
    for rows in keyset(stmt, Post.id):
        # The batch's tags in one statement.
        tags: dict[uuid.UUID, list[str]] = {}
        for post_id, name in db.session.execute(
            select(post_tags.c.post_id, Tag.name)
            .join(Tag, Tag.id == post_tags.c.tag_id)
            .where(post_tags.c.post_id.in_([r["id"] for r in rows]))
            .order_by(Tag.name)
        ):
            tags.setdefault(post_id, []).append(name)
        for row in rows:
            row["tags"] = tags.get(row["id"], [])
            row["file"] = f"posts/{_safe_name(row['slug'], row['id'].hex)}"
            yield row


def post_files(row: Row) -> Iterator[Attachment]:
    from markupsafe import escape

    front = f"# {row['title']}\n\n"
    yield f"{row['file']}.md", (front + row["content_markdown"]).encode()
    html = (
        '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{escape(row['title'])}</title></head>\n<body>\n<article>\n"
        f"<h1>{escape(row['title'])}</h1>\n{row['content_html']}\n</article>\n</body>\n</html>\n"
    )
    yield f"{row['file']}.html", html.encode()


def comment_rows(user_id: uuid.UUID) -> Iterator[Row]:
    stmt = (
        select(
            Comment.id,
            Comment.post_id,
            Post.slug.label("post_slug"),
            Comment.content.label("content_markdown"),
            Comment.content_html,
            Comment.created_at,
            Comment.edited_at,
            Comment.deleted_at,
            Comment.removed_at,
        )
        .join(Post, Post.id == Comment.post_id)
        .where(Comment.author_id == user_id)
    )
    return _flat(stmt, Comment.id)


def message_rows(user_id: uuid.UUID) -> Iterator[Row]:
    # Only what this person sent: the other participants' messages are theirs.
    stmt = (
        select(
            Message.id,
            Message.conversation_id,
            Conversation.kind.label("conversation_kind"),
            Message.kind,
            Message.body,
            Message.file_id,
            Message.created_at,
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.sender_id == user_id)
    )
    return _flat(stmt, Message.id)


# Notifications whose text quotes another person's private words (a chat message's excerpt):
# the notice is exported, the quote is not.
QUOTING_OTHERS = frozenset({"chat_message"})


def notification_rows(user_id: uuid.UUID) -> Iterator[Row]:
    stmt = select(
        Notification.id,
        Notification.type.label("channel"),
        Notification.kind,
        Notification.title,
        Notification.message,
        Notification.link,
        Notification.status,
        Notification.created_at,
        Notification.sent_at,
        Notification.read_at,
    ).where(Notification.user_id == user_id)
    for row in _flat(stmt, Notification.id):
        if row["kind"] in QUOTING_OTHERS:
            row["message"] = None
        yield row


def preference_rows(user_id: uuid.UUID) -> Iterator[Row]:
    theme = db.session.scalar(select(User.theme).where(User.id == user_id))
    yield {"setting": "theme", "value": theme}
    for row in db.session.execute(
        select(
            NotificationPreference.kind,
            NotificationPreference.channel,
            NotificationPreference.enabled,
            NotificationPreference.updated_at,
        )
        .where(NotificationPreference.user_id == user_id)
        .order_by(NotificationPreference.kind, NotificationPreference.channel)
    ).mappings():
        yield {"setting": "notification", **row}
    # Whom this person follows: public names only.
    stmt = (
        select(
            Follow.followed_id.label("id"),
            User.user_name.label("user_name"),
            Follow.created_at,
        )
        .join(User, User.id == Follow.followed_id)
        .where(Follow.follower_id == user_id)
    )
    for follow in _flat(stmt, Follow.followed_id):
        yield {"setting": "follows", **follow}


def device_rows(user_id: uuid.UUID) -> Iterator[Row]:
    # Signed-in devices and push subscriptions, without their secrets: no token hashes, no
    # push endpoint (a capability URL) and no push keys.
    sessions = select(
        UserSession.id,
        UserSession.created_at,
        UserSession.last_seen_at,
        UserSession.expires_at,
        UserSession.revoked_at,
        UserSession.remember,
        UserSession.user_agent,
        UserSession.ip,
    ).where(UserSession.user_id == user_id)
    for row in _flat(sessions, UserSession.id):
        yield {"device": "session", **row, "ip": str(row["ip"]) if row["ip"] else None}
    pushes = select(
        PushSubscription.id,
        PushSubscription.user_agent,
        PushSubscription.created_at,
        PushSubscription.last_success_at,
        PushSubscription.last_failure_at,
    ).where(PushSubscription.user_id == user_id)
    for row in _flat(pushes, PushSubscription.id):
        yield {"device": "push_subscription", **row}


def file_rows(user_id: uuid.UUID) -> Iterator[Row]:
    stmt = select(
        FileMetadata.id,
        FileMetadata.file_name,
        FileMetadata.mime_type,
        FileMetadata.size_bytes,
        FileMetadata.checksum_sha256,
        FileMetadata.purpose,
        FileMetadata.width,
        FileMetadata.height,
        FileMetadata.created_at,
        FileMetadata.storage_key,
    ).where(FileMetadata.uploader_id == user_id)
    for row in _flat(stmt, FileMetadata.id):
        row["file"] = f"files/{row['id'].hex[:12]}-{_safe_name(row['file_name'], 'file')}"
        yield row


def upload_files(row: Row) -> Iterator[Attachment]:
    key = row.pop("storage_key")
    storage = get_storage()
    yield row["file"], lambda: storage.open(key)


# --------------------------------------------------------------------------- the purge


def purge_profile(ids: list[uuid.UUID]) -> None:
    # The name, email and password are anonymised by User.anonymise(); the rest goes here.
    db.session.execute(
        update(User)
        .where(User.id.in_(ids))
        .values(display_name=None, bio=None, avatar_file_id=None, theme="system")
    )
    db.session.execute(delete(Account).where(Account.user_id.in_(ids)))


def purge_posts(ids: list[uuid.UUID]) -> None:
    # Their comments, tags links, redirects and flags go with them (ON DELETE CASCADE); tag
    # counts are recounted by the cron job (blog.posts.jobs.recount_tags).
    db.session.execute(delete(Post).where(Post.author_id.in_(ids)))


def purge_comments(ids: list[uuid.UUID]) -> None:
    db.session.execute(delete(Comment).where(Comment.author_id.in_(ids)))


def purge_messages(ids: list[uuid.UUID]) -> None:
    db.session.execute(delete(Message).where(Message.sender_id.in_(ids)))


def purge_notifications(ids: list[uuid.UUID]) -> None:
    db.session.execute(delete(Notification).where(Notification.user_id.in_(ids)))


def purge_preferences(ids: list[uuid.UUID]) -> None:
    db.session.execute(
        delete(NotificationPreference).where(NotificationPreference.user_id.in_(ids))
    )
    db.session.execute(
        delete(Follow).where(or_(Follow.follower_id.in_(ids), Follow.followed_id.in_(ids)))
    )


def purge_devices(ids: list[uuid.UUID]) -> None:
    db.session.execute(delete(UserSession).where(UserSession.user_id.in_(ids)))
    db.session.execute(delete(PushSubscription).where(PushSubscription.user_id.in_(ids)))


def purge_files(ids: list[uuid.UUID]) -> None:
    # Each blob goes after commit unless another upload shares it (file.deleted's handler).
    gone = db.session.execute(
        delete(FileMetadata)
        .where(FileMetadata.uploader_id.in_(ids))
        .returning(FileMetadata.id, FileMetadata.checksum_sha256)
    ).all()
    for file_id, checksum in gone:
        forget_upload(file_id, checksum)


def screen_rows(user_id: uuid.UUID) -> Iterator[Row]:
    # Whom this person mutes or ignores (public names only) and who may message them.
    dm_from = db.session.scalar(
        select(MessagingPreference.dm_from).where(MessagingPreference.user_id == user_id)
    )
    yield {"setting": "direct_messages_from", "value": dm_from or "everyone"}
    stmt = (
        select(
            UserScreen.target_id.label("id"),
            User.user_name.label("user_name"),
            UserScreen.level,
            UserScreen.created_at,
        )
        .join(User, User.id == UserScreen.target_id)
        .where(UserScreen.user_id == user_id)
    )
    for screen in _flat(stmt, UserScreen.target_id):
        yield {"setting": screen.pop("level"), **screen}


def purge_screens(ids: list[uuid.UUID]) -> None:
    db.session.execute(
        delete(UserScreen).where(or_(UserScreen.user_id.in_(ids), UserScreen.target_id.in_(ids)))
    )
    db.session.execute(delete(MessagingPreference).where(MessagingPreference.user_id.in_(ids)))


def reaction_rows(user_id: uuid.UUID) -> Iterator[Row]:
    # The posts and comments this person liked (their titles are public).
    posts = (
        select(
            PostReaction.post_id.label("id"),
            Post.slug.label("post_slug"),
            Post.title.label("post_title"),
            PostReaction.kind,
            PostReaction.created_at,
        )
        .join(Post, Post.id == PostReaction.post_id)
        .where(PostReaction.user_id == user_id)
    )
    for row in _flat(posts, PostReaction.post_id):
        yield {"item": "post", **row}
    comments = (
        select(
            CommentReaction.comment_id.label("id"),
            Comment.post_id.label("post_id"),
            CommentReaction.kind,
            CommentReaction.created_at,
        )
        .join(Comment, Comment.id == CommentReaction.comment_id)
        .where(CommentReaction.user_id == user_id)
    )
    for row in _flat(comments, CommentReaction.comment_id):
        yield {"item": "comment", **row}


def bookmark_rows(user_id: uuid.UUID) -> Iterator[Row]:
    stmt = (
        select(
            Bookmark.post_id.label("id"),
            Post.slug.label("post_slug"),
            Post.title.label("post_title"),
            Bookmark.created_at,
        )
        .join(Post, Post.id == Bookmark.post_id)
        .where(Bookmark.user_id == user_id)
    )
    yield from _flat(stmt, Bookmark.post_id)


def _purge_likes(ids: list[uuid.UUID], reaction: Any, item_column: Any, item: Any) -> None:
    """Delete these people's likes of one item type; the liked items keep true counts,
    recounted from what is left (one statement for all of them)."""
    liked = db.session.scalars(
        delete(reaction).where(reaction.user_id.in_(ids)).returning(item_column)
    ).all()
    if liked:
        count = select(func.count()).where(item_column == item.id).correlate(item)
        db.session.execute(
            update(item).where(item.id.in_(set(liked))).values(like_count=count.scalar_subquery())
        )


def purge_reactions(ids: list[uuid.UUID]) -> None:
    _purge_likes(ids, PostReaction, PostReaction.post_id, Post)
    _purge_likes(ids, CommentReaction, CommentReaction.comment_id, Comment)


def purge_bookmarks(ids: list[uuid.UUID]) -> None:
    db.session.execute(delete(Bookmark).where(Bookmark.user_id.in_(ids)))


def purge_sections(ids: list[uuid.UUID]) -> None:
    """Erase everything the download lists for these (deleted, retention passed) accounts."""
    if ids:
        for section in SECTIONS:
            if section.purge is not None:
                section.purge(ids)


SECTIONS: list[Section] = [
    Section(
        "profile",
        profile_rows,
        "Your account and public profile.",
        single=True,
        purge=purge_profile,
    ),
    Section(
        "posts",
        post_rows,
        "Your posts (drafts too), with their tags; each is also in posts/ as Markdown (.md, "
        "what you wrote) and HTML (.html, as the site shows it).",
        attach=post_files,
        purge=purge_posts,
    ),
    Section(
        "comments", comment_rows, "Your comments, with the post each is on.", purge=purge_comments
    ),
    Section(
        "messages",
        message_rows,
        "The chat messages you sent, with the conversation each is in (other people's "
        "messages are theirs and are not included).",
        purge=purge_messages,
    ),
    Section(
        "notifications",
        notification_rows,
        "The notifications you received.",
        purge=purge_notifications,
    ),
    Section(
        "preferences",
        preference_rows,
        "Your colour scheme, notification choices and the people you follow.",
        purge=purge_preferences,
    ),
    Section(
        "devices",
        device_rows,
        "The devices signed in to your account and the browsers that get push notifications "
        "(no passwords, tokens or keys).",
        purge=purge_devices,
    ),
    Section(
        "files",
        file_rows,
        "The files you uploaded; each is in files/ under the name shown in `file`.",
        attach=upload_files,
        purge=purge_files,
    ),
    Section(
        "people",
        screen_rows,
        "Who may send you direct messages, and the people you mute or ignore.",
        purge=purge_screens,
    ),
    Section(
        "reactions",
        reaction_rows,
        "The posts and comments you liked.",
        purge=purge_reactions,
    ),
    Section("bookmarks", bookmark_rows, "The posts you saved.", purge=purge_bookmarks),
    # --- more sections are added here, one line each.
]
