"""Post rules: write, edit, publish, schedule, archive; tags on the fly; unique slugs.

Services add and flush; the view (or the cron job) commits. Each status change emits its event
in the same transaction, so the change and `post.published` / `post.archived` commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from blog.audit.services import record_audit
from blog.auth.models import User
from blog.core.db import utcnow
from blog.extensions import db
from blog.outbox.events import emit
from blog.posts.models import (
    SLUG_MAX,
    TAG_NAME_MAX,
    TAG_SLUG_MAX,
    TAGS_PER_POST_MAX,
    IllegalTransition,
    Post,
    PostRevision,
    PostSlugRedirect,
    Tag,
)
from blog.posts.slugs import TagNameInvalid, normalise_tag_name, slugify, with_suffix
from blog.profiles.mentions import mentioned_people, render_user_text
from blog.uploads.images import image_sizes

# Slugs are made from at most this much of the title; the column allows room for suffixes.
SLUG_FROM_TITLE = 80
_TAG_ATTEMPTS = 5


class VersionConflict(Exception):
    """The save started from a version the post no longer has (another tab saved since)."""

    def __init__(self, post: Post) -> None:
        super().__init__(f"post {post.id} is at version {post.version}")
        self.post = post


class TagsInvalid(ValueError):
    """The tags field cannot be used as given; the message says why."""


def parse_tag_names(raw: str) -> list[str]:
    """Comma-separated tags → normalised, de-duplicated names, in the order typed.

    Raises TagsInvalid with a message for the field.
    """
    names: list[str] = []
    for part in raw.split(","):
        if not part.strip():
            continue
        try:
            name = normalise_tag_name(part, TAG_NAME_MAX)
        except TagNameInvalid as exc:
            raise TagsInvalid(f"{exc} ({part.strip()[:40]!r})") from None
        if name not in names:
            names.append(name)
    if len(names) > TAGS_PER_POST_MAX:
        raise TagsInvalid(f"Use at most {TAGS_PER_POST_MAX} tags.")
    return names


def get_or_create_tags(names: Iterable[str]) -> list[Tag]:
    """The tags with these (normalised) names, creating the missing ones."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    for _attempt in range(_TAG_ATTEMPTS):
        found = {t.name: t for t in db.session.scalars(select(Tag).where(Tag.name.in_(wanted)))}
        missing = [name for name in wanted if name not in found]
        if not missing:
            return [found[name] for name in wanted]
        for name in missing:
            # A concurrent editor may create the same tag (or take the slug): DO NOTHING, and
            # the next pass reads whichever row won.
            slug = _free_slug(slugify(name, TAG_SLUG_MAX, fallback="tag"), TAG_SLUG_MAX, _tag_slugs)
            db.session.execute(pg_insert(Tag).values(name=name, slug=slug).on_conflict_do_nothing())
    raise RuntimeError("could not create tags after several attempts")


def _tag_slugs(prefix: str) -> set[str]:
    return set(
        db.session.scalars(select(Tag.slug).where(Tag.slug.startswith(prefix, autoescape=True)))
    )


def _post_slugs(prefix: str) -> set[str]:
    taken = set(
        db.session.scalars(select(Post.slug).where(Post.slug.startswith(prefix, autoescape=True)))
    )
    # Old slugs stay reserved: they still lead to the post that had them.
    taken |= set(
        db.session.scalars(
            select(PostSlugRedirect.slug).where(
                PostSlugRedirect.slug.startswith(prefix, autoescape=True)
            )
        )
    )
    return taken


def _free_slug(base: str, max_length: int, taken_with_prefix: Callable[[str], set[str]]) -> str:
    taken = taken_with_prefix(base)
    n = 1
    slug = base
    while slug in taken:
        n += 1
        slug = with_suffix(base, n, max_length)
    return slug


def _set_slug(post: Post, title: str) -> None:
    """Give the post a unique slug from `title`; a published post's old slug keeps working."""
    base = slugify(title, SLUG_FROM_TITLE)
    old = post.slug
    if old is not None and (old == base or _is_suffixed(old, base)):
        return  # the title changed but its slug would not (or only by its collision suffix)
    # Two writers choosing a slug from the same base take turns (until their commit), so the
    # second sees the first's slug instead of failing on the unique constraint.
    db.session.execute(select(func.pg_advisory_xact_lock(func.hashtext("post-slug:" + base))))
    if post.id is not None:
        # The post's own old slug is free for it again: reclaim it rather than suffix it.
        own = db.session.get(PostSlugRedirect, base)
        if own is not None and own.post_id == post.id:
            db.session.delete(own)
            db.session.flush()
    new = _free_slug(base, SLUG_MAX, _post_slugs)
    if old is not None and not post.is_draft:
        db.session.add(PostSlugRedirect(slug=old, post_id=post.id))
    post.slug = new


def _is_suffixed(slug: str, base: str) -> bool:
    return slug.startswith(base + "-") and slug[len(base) + 1 :].isdigit()


def _apply_content(
    post: Post, title: str, content: str, tags: list[Tag], author: User | None = None
) -> None:
    post.title = title
    if post.content != content or post.content_html is None:
        rendered = render_user_text(content, images=image_sizes(post.author_id))
        # --- safety: new accounts' links and images (raises NewAccountLimit)
        from blog.safety.newcomers import check_post

        check_post(author or post.author, rendered.html)
        # --- end safety
        post.content = content
        post.content_html = rendered.html
        post.content_text = rendered.text
    post.tags = tags


# The one definition of a tag's count (published, not hidden, by a live account); the
# migration 0017 backfills with the same statement.
_RECOUNT = """
UPDATE tags SET post_count = coalesce(c.n, 0)
FROM tags t LEFT JOIN (
    SELECT pt.tag_id, count(*) AS n
    FROM post_tags pt
    JOIN posts p ON p.id = pt.post_id AND p.status = 'published' AND p.hidden_at IS NULL
    JOIN users u ON u.id = p.author_id AND u.deleted_at IS NULL
    GROUP BY pt.tag_id
) c ON c.tag_id = t.id
WHERE tags.id = t.id AND tags.post_count IS DISTINCT FROM coalesce(c.n, 0)
"""


def refresh_tag_counts_sql() -> str:
    """The statement that recounts every tag (for seed-bulk's raw connection)."""
    return _RECOUNT


def refresh_tag_counts() -> int:
    """Recount every tag: heals what the deltas do not follow (an account deleted or
    restored). Returns how many tags changed."""
    return db.session.execute(text(_RECOUNT)).rowcount  # type: ignore[attr-defined]


def count_post_tags(tags: Iterable[Tag], delta: int) -> None:
    """A post with these tags became visible in lists (+1) or left them (-1).

    The UPDATE row-locks the tags until commit, so two publishes with one tag add up."""
    ids = [tag.id for tag in tags]
    if not ids:
        return
    db.session.execute(
        update(Tag)
        .where(Tag.id.in_(ids))
        .values(post_count=func.greatest(Tag.post_count + delta, 0))
        .execution_options(synchronize_session=False)
    )


def create_post(author: User, *, title: str, content: str, tag_names: list[str]) -> Post:
    """A new draft by `author` (whose address is confirmed: the view checks)."""
    post = Post(author_id=author.id, author=author, status="draft")
    _apply_content(post, title, content, get_or_create_tags(tag_names), author)
    _set_slug(post, title)
    db.session.add(post)
    db.session.flush()
    return post


def update_post(
    post: Post,
    *,
    title: str,
    content: str,
    tag_names: list[str],
    expected_version: int | None = None,
) -> Post:
    """Change title, text and tags. A published post's event says what changed, and the
    version it replaces is kept (PostRevision) when its title or text changes.

    `expected_version`: the version the editor started from; VersionConflict if the post has
    moved on since. The caller holds the post's row lock (access_post(..., lock=True)), so the
    check and the write cannot interleave with another save."""
    if expected_version is not None and expected_version != post.version:
        raise VersionConflict(post)
    changed = []
    before = post.content
    if title != post.title:
        changed.append("title")
    if content != post.content:
        changed.append("content")
    if changed and not post.is_draft:
        _keep_revision(post)
    if "title" in changed:
        _set_slug(post, title)
    tags = get_or_create_tags(tag_names)
    if [t.name for t in tags] != [t.name for t in post.tags]:
        changed.append("tags")
        if post.is_published and post.hidden_at is None:
            old_ids, new_ids = {t.id for t in post.tags}, {t.id for t in tags}
            count_post_tags([t for t in post.tags if t.id not in new_ids], -1)
            count_post_tags([t for t in tags if t.id not in old_ids], +1)
    _apply_content(post, title, content, tags)
    if changed:
        now = utcnow()
        post.updated_at = now
        post.version += 1
        if not post.is_draft and changed != ["tags"]:
            post.edited_at = now
    db.session.flush()
    if changed and not post.is_draft:
        emit(
            "post.updated",
            aggregate_type="post",
            aggregate_id=post.id,
            data={
                "slug": post.slug,
                "changed": changed,
                # People the edit mentions for the first time (the others were told).
                "mentions": mentioned_people(content, author_id=post.author_id, before=before)
                if "content" in changed and post.is_published
                else [],
            },
        )
    return post


def _keep_revision(post: Post) -> None:
    """Keep the public version about to be replaced. Only the author edits a post, so its
    writer is the author; its time is its own edit, else the publication."""
    db.session.add(
        PostRevision(
            post_id=post.id,
            version=post.version,
            title=post.title,
            body=post.content,
            edited_at=post.edited_at or post.published_at or post.updated_at,
            editor_id=post.author_id,
        )
    )


def autosave_draft(
    post: Post, *, title: str, content: str, tag_names: list[str], expected_version: int | None
) -> Post:
    """The editor's background save, for drafts only: a public post's edits wait for "Update
    post" (nothing goes public unasked). Raises IllegalTransition for a post that is not a
    draft, VersionConflict for a stale version."""
    if not post.is_draft:
        raise IllegalTransition(
            "Changes to a published post are saved when you press “Update post”."
        )
    return update_post(
        post, title=title, content=content, tag_names=tag_names, expected_version=expected_version
    )


def publish_post(post: Post, *, actor: User | None, now: datetime | None = None) -> Post:
    """Draft or archived → published, with `post.published` in the same transaction.

    `actor` is None when the cron job publishes a scheduled post. Raises IllegalTransition.
    """
    now = now or utcnow()
    republished = post.is_archived
    post.publish(now)
    if post.hidden_at is None:
        count_post_tags(post.tags, +1)
    db.session.flush()
    emit(
        "post.published",
        aggregate_type="post",
        aggregate_id=post.id,
        data={
            "author_id": str(post.author_id),
            "title": post.title,
            "slug": post.slug,
            "published_at": post.published_at.isoformat() if post.published_at else None,
            "republished": republished,
            "tags": [t.name for t in post.tags],
            # A republished post told its people the first time.
            "mentions": []
            if republished
            else mentioned_people(post.content, author_id=post.author_id),
        },
    )
    if actor is not None and actor.id != post.author_id:
        _audit_moderation(actor, post, "post.republish", old="archived")
    return post


def archive_post(post: Post, *, actor: User, ip: str | None = None) -> Post:
    """Published → archived, with `post.archived`. A moderator's archive is audited."""
    post.archive(utcnow(), by=actor.id)
    if post.hidden_at is None:
        count_post_tags(post.tags, -1)
    db.session.flush()
    emit(
        "post.archived",
        aggregate_type="post",
        aggregate_id=post.id,
        data={"author_id": str(post.author_id), "slug": post.slug, "by": str(actor.id)},
    )
    if actor.id != post.author_id:
        _audit_moderation(actor, post, "post.archive", old="published", ip=ip)
    return post


def _audit_moderation(
    actor: User, post: Post, action: str, *, old: str, ip: str | None = None
) -> None:
    record_audit(
        actor_id=actor.id,
        action=action,
        entity_type="post",
        entity_id=post.id,
        old={"status": old},
        new={"status": post.status},
        ip=ip,
    )


def schedule_post(post: Post, at: datetime) -> Post:
    """Publish this draft at `at`; the cron job does it within a minute. Raises
    IllegalTransition for a post that is not a draft or a time that has passed."""
    post.schedule(at, utcnow())
    db.session.flush()
    return post


def unschedule_post(post: Post) -> Post:
    post.unschedule()
    db.session.flush()
    return post


def delete_draft(post: Post) -> None:
    """Delete a draft (never public, so nothing to announce). Raises IllegalTransition for a
    post that has been published: those are archived, so their address keeps answering."""
    if not post.is_draft:
        raise IllegalTransition(
            "A post that has been published cannot be deleted: archive it to take it down."
        )
    db.session.delete(post)
    db.session.flush()
