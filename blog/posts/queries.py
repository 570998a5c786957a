"""The read side: feeds (keyset pages), tag pages, author pages, the tag index, search.

Every list is one statement however long it is: the page of posts with their authors' names
(a join), their tags (a JSON array from a correlated subquery) and their comment counts
(another), read as plain rows into PostSummary, not ORM objects: lists are the hot path, and
the identity map and relationship loading cost more than the query. Lists never load a post's
text, only its excerpt.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import Select, bindparam, func, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import selectinload

from blog.auth.models import User
from blog.core.prepared import Prepared
from blog.extensions import db
from blog.posts.models import EXCERPT_LENGTH, Post, PostSlugRedirect, Tag, post_tags

PAGE_SIZE = 20
SEARCH_PAGE_SIZE = 20
SEARCH_MAX_PAGES = 10
# Search ranks the newest this many matches (see search_posts): every page of them.
SEARCH_CANDIDATES = SEARCH_PAGE_SIZE * SEARCH_MAX_PAGES
SEARCH_MAX_WORDS = 8
QUERY_MAX = 200
TAG_INDEX_MAX = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"^(\d{1,17})\.([0-9a-f]{32})$")
# Highlight markers: control characters, which no post can contain (forms refuse them), so the
# snippet can be escaped first and marked up after.
_START, _STOP = "\x01", "\x02"


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class AuthorRef:
    """What a list shows of a person: the name and the picture (templates/_macros/ui.html)."""

    user_name: str
    display_name: str | None
    id: uuid.UUID | None = None
    avatar_file_id: uuid.UUID | None = None


@dataclass(frozen=True)
class TagRef:
    name: str
    slug: str


@dataclass(frozen=True)
class PostSummary:
    """A post as lists and feeds show it: read in the list's one statement, no ORM objects."""

    id: uuid.UUID
    slug: str
    title: str
    published_at: datetime
    updated_at: datetime
    author: AuthorRef
    tags: tuple[TagRef, ...]  # a tuple: a summary is hashable, the key of its card (blog.posts.ui)
    comment_count: int = 0
    excerpt: str = ""
    content_html: str = ""
    like_count: int = 0
    # The viewer's own marks (blog.reactions), read in the list's statement; None when the
    # list did not read them (a visitor, search, feeds).
    liked: bool | None = None
    saved: bool | None = None


@dataclass(frozen=True)
class Page:
    posts: list[PostSummary]
    next_cursor: str | None


def encode_cursor(post: PostSummary) -> str:
    micros = (post.published_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{post.id.hex}"


def decode_cursor(raw: str) -> tuple[datetime, uuid.UUID]:
    match = _CURSOR.match(raw)
    if not match:
        raise BadCursor(raw)
    return _EPOCH + timedelta(microseconds=int(match.group(1))), uuid.UUID(match.group(2))


def _tags_json() -> Any:
    """A post's tags as one JSON array of [name, slug], sorted: no second query per list."""
    pairs = func.json_agg(aggregate_order_by(func.json_build_array(Tag.name, Tag.slug), Tag.name))
    return (
        select(func.coalesce(pairs, literal_column("'[]'::json")))
        .select_from(post_tags.join(Tag, Tag.id == post_tags.c.tag_id))
        .where(post_tags.c.post_id == Post.id)
        .scalar_subquery()
    )


def _comment_count() -> Any:
    """The comments that count (Comment.is_visible: the one definition the post page uses)."""
    from blog.comments.models import Comment

    return (
        select(func.count()).where(Comment.post_id == Post.id, Comment.is_visible).scalar_subquery()
    )


@lru_cache(maxsize=2)
def _published(with_content: bool = False) -> Select[Any]:
    """Published posts of live accounts, newest first: the columns a list shows, the author's
    names and the tags, in one statement; the HTML only `with_content` (feeds).

    Built once: constructing this statement (two correlated subqueries) cost more than
    running it. A Select is immutable; each list adds its WHERE and LIMIT to a copy."""
    body = Post.content_html if with_content else func.left(Post.content_text, EXCERPT_LENGTH)
    return (
        select(
            Post.id,
            Post.slug,
            Post.title,
            Post.published_at,
            Post.updated_at,
            User.user_name,
            User.display_name,
            User.id,
            User.avatar_file_id,
            _tags_json(),
            _comment_count(),
            body,
            Post.like_count,
        )
        .join(User, User.id == Post.author_id)
        .where(Post.status == "published", Post.hidden_at.is_(None), User.deleted_at.is_(None))
        .order_by(Post.published_at.desc(), Post.id.desc())
    )


# The reader of a list and the keyset position, as bound parameters of statements built once:
# building a list's statement (the viewer's EXISTS, the ignore filter, the position) cost as
# much again as running it, every request. Values come with the execution (_page).
_VIEWER = bindparam("viewer_id", type_=Post.author_id.type)
_BEFORE_AT = bindparam("before_at", type_=Post.published_at.type)
_BEFORE_ID = bindparam("before_id", type_=Post.id.type)
_TAG = bindparam("tag_id", type_=post_tags.c.tag_id.type)
_AUTHOR = bindparam("author_id", type_=Post.author_id.type)


def _viewer_columns(viewer_id: Any = _VIEWER) -> tuple[Any, Any]:
    """Did the viewer like / save each post of the list: two EXISTS on primary keys, inside
    the list's own statement (no second query for a signed-in page)."""
    from blog.reactions.models import Bookmark, PostReaction

    liked = (
        select(PostReaction.post_id)
        .where(
            PostReaction.user_id == viewer_id,
            PostReaction.post_id == Post.id,
            PostReaction.kind == "like",
        )
        .exists()
    )
    saved = (
        select(Bookmark.post_id)
        .where(Bookmark.user_id == viewer_id, Bookmark.post_id == Post.id)
        .exists()
    )
    return liked.label("liked"), saved.label("saved")


_COLUMNS = 13  # what _published selects; the viewer's two marks may follow


def _summary(row: Any, with_content: bool) -> PostSummary:
    (
        post_id,
        slug,
        title,
        published_at,
        updated_at,
        user_name,
        display_name,
        author_id,
        avatar_file_id,
        tags,
        comments,
        body,
        likes,
    ) = row[:_COLUMNS]
    liked: bool | None = None
    saved: bool | None = None
    if len(row) > _COLUMNS:
        liked, saved = bool(row[_COLUMNS]), bool(row[_COLUMNS + 1])
    return PostSummary(
        id=post_id,
        slug=slug,
        title=title,
        published_at=published_at,
        updated_at=updated_at,
        author=AuthorRef(user_name, display_name, author_id, avatar_file_id),
        tags=tuple([TagRef(name, tag_slug) for name, tag_slug in tags]),
        comment_count=comments,
        excerpt="" if with_content else body,
        content_html=body if with_content else "",
        like_count=likes,
        liked=liked,
        saved=saved,
    )


def _page(
    query: Prepared,
    cursor: str | None,
    size: int = PAGE_SIZE,
    with_content: bool = False,
    params: dict[str, Any] | None = None,
) -> Page:
    """One page of a list statement from _listing (its parameters in `params`)."""
    values = dict(params or {})
    if cursor:
        values["before_at"], values["before_id"] = decode_cursor(cursor)
    rows = query.execute(values).all()
    posts = [_summary(row, with_content) for row in rows[:size]]
    return Page(posts, encode_cursor(posts[-1]) if len(rows) > size else None)


@lru_cache(maxsize=64)
def _listing(
    kind: str, with_content: bool, signed_in: bool, positioned: bool, size: int
) -> Prepared:
    """A list's statement, built once per shape and reused with its parameters:
    `kind` home / tag (tag_id) / author (author_id); a signed-in reader (viewer_id) gets the
    like and save marks and, except on an author's own page, leaves out the people they
    ignore (blog.safety); `positioned` continues after (before_at, before_id). Prepared on
    the server (blog.core.prepared): planning it cost more than running it."""
    name = f"list_{kind}_{int(with_content)}{int(signed_in)}{int(positioned)}_{size}"
    return Prepared(
        name, lambda: _listing_statement(kind, with_content, signed_in, positioned, size)
    )


def _listing_statement(
    kind: str, with_content: bool, signed_in: bool, positioned: bool, size: int
) -> Select[Any]:
    from blog.safety.services import ignores

    query = _published(with_content)
    if kind == "tag":
        query = query.join(post_tags, post_tags.c.post_id == Post.id).where(
            post_tags.c.tag_id == _TAG
        )
    elif kind == "author":
        query = query.where(Post.author_id == _AUTHOR)
    if signed_in:
        query = query.add_columns(*_viewer_columns())
        if kind != "author":
            query = query.where(~ignores(_VIEWER, Post.author_id))
    if positioned:
        query = query.where(tuple_(Post.published_at, Post.id) < tuple_(_BEFORE_AT, _BEFORE_ID))
    return query.limit(size + 1)


# --- safety: a signed-in reader's lists leave out the authors they ignore (blog.safety),
# a condition of the list's one statement.
def _unignored(query: Select[Any], viewer_id: uuid.UUID | None) -> Select[Any]:
    if viewer_id is None:
        return query
    from blog.safety.services import ignores

    return query.where(~ignores(viewer_id, Post.author_id))


# --- end safety


def home_feed(
    cursor: str | None = None,
    size: int = PAGE_SIZE,
    *,
    with_content: bool = False,
    viewer_id: uuid.UUID | None = None,
) -> Page:
    query = _listing("home", with_content, viewer_id is not None, bool(cursor), size)
    return _page(query, cursor, size, with_content, {"viewer_id": viewer_id})


def tag_feed(
    tag: Tag,
    cursor: str | None = None,
    size: int = PAGE_SIZE,
    *,
    with_content: bool = False,
    viewer_id: uuid.UUID | None = None,
) -> Page:
    query = _listing("tag", with_content, viewer_id is not None, bool(cursor), size)
    return _page(query, cursor, size, with_content, {"viewer_id": viewer_id, "tag_id": tag.id})


def author_feed(
    author: User,
    cursor: str | None = None,
    size: int = PAGE_SIZE,
    *,
    with_content: bool = False,
    viewer_id: uuid.UUID | None = None,
) -> Page:
    query = _listing("author", with_content, viewer_id is not None, bool(cursor), size)
    params = {"viewer_id": viewer_id, "author_id": author.id}
    return _page(query, cursor, size, with_content, params)


def saved_feed(user_id: uuid.UUID, cursor: str | None = None, size: int = PAGE_SIZE) -> Page:
    """The posts `user_id` saved, newest saved first, keyset on (saved at, post id): one
    statement. Only published posts: an archived (or hidden) one leaves the list, and comes
    back if it is published again, its bookmark kept."""
    from sqlalchemy.orm import aliased

    from blog.core.pagination import decode_cursor as decode_position
    from blog.core.pagination import encode_cursor as encode_position
    from blog.reactions.models import Bookmark

    # An alias: the viewer's "saved" EXISTS (on Bookmark) must not correlate with this join.
    mine = aliased(Bookmark)
    query = (
        _published()
        .add_columns(*_viewer_columns(user_id), mine.created_at)
        .join(mine, mine.post_id == Post.id)
        .where(mine.user_id == user_id)
        .order_by(None)
        .order_by(mine.created_at.desc(), mine.post_id.desc())
    )
    position = decode_position(cursor)
    if position is not None:
        query = query.where(tuple_(mine.created_at, mine.post_id) < tuple_(*position))
    rows = db.session.execute(query.limit(size + 1)).all()
    posts = [_summary(row, False) for row in rows[:size]]
    more = len(rows) > size
    return Page(posts, encode_position(rows[size - 1][-1], posts[-1].id) if more else None)


def redirected_slug(old_slug: str) -> str | None:
    """The current slug of the post that once had `old_slug`."""
    return db.session.scalar(
        select(Post.slug)
        .join(PostSlugRedirect, PostSlugRedirect.post_id == Post.id)
        .where(PostSlugRedirect.slug == old_slug)
    )


def get_tag_by_slug(slug: str) -> Tag | None:
    return db.session.scalar(select(Tag).where(Tag.slug == slug))


def get_author(user_name: str) -> User | None:
    """A live account by user name (any case); None for unknown or deleted accounts."""
    return db.session.scalar(
        select(User).where(
            func.lower(User.user_name) == user_name.lower(), User.deleted_at.is_(None)
        )
    )


def own_posts(author: User, limit: int = 200) -> list[Post]:
    """Everything the author wrote, drafts first, then by last change."""
    return list(
        db.session.scalars(
            select(Post)
            .where(Post.author_id == author.id)
            .options(selectinload(Post.tags))
            .order_by((Post.status == "draft").desc(), Post.updated_at.desc(), Post.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class TagCount:
    name: str
    slug: str
    count: int


def tag_index(limit: int = TAG_INDEX_MAX) -> list[TagCount]:
    """Tags with at least one published post, most used first.

    The counts are kept in tags.post_count (blog.posts.services.count_post_tags): counting
    post_tags x posts here cost 31 ms at 20,000 posts and 789 ms at a million, on every
    search page."""
    rows = db.session.execute(
        select(Tag.name, Tag.slug, Tag.post_count)
        .where(Tag.post_count > 0)
        .order_by(Tag.post_count.desc(), Tag.name)
        .limit(limit)
    )
    return [TagCount(name, slug, int(count)) for name, slug, count in rows]


def suggest_tags(prefix: str, exclude: list[str], limit: int = 8) -> list[str]:
    """Tag names starting with `prefix`, most used first (published posts only)."""
    if not prefix:
        return []
    query = select(Tag.name).where(Tag.post_count > 0, Tag.name.startswith(prefix, autoescape=True))
    if exclude:
        query = query.where(Tag.name.not_in(exclude))
    return list(db.session.scalars(query.order_by(Tag.post_count.desc(), Tag.name).limit(limit)))


# --------------------------------------------------------------------------- search


@dataclass(frozen=True)
class Hit:
    post: PostSummary
    title: Markup
    snippet: Markup


@dataclass(frozen=True)
class SearchResults:
    hits: list[Hit]
    page: int
    has_more: bool


def search_terms(q: str) -> list[str]:
    """The words of a query: runs of letters, digits and combining marks."""
    cleaned = "".join(c if c.isalnum() or _is_mark(c) else " " for c in q[:QUERY_MAX])
    return cleaned.lower().split()[:SEARCH_MAX_WORDS]


def _is_mark(char: str) -> bool:
    import unicodedata

    return unicodedata.category(char).startswith("M")


def _tsquery(terms: list[str]) -> Any:
    # Every word, the last one as a prefix too (the query runs as you type). The terms hold
    # only letters, digits and marks, so quoting them is safe.
    parts = [f"'{term}'" for term in terms[:-1]] + [f"'{terms[-1]}':*"]
    return func.to_tsquery("english", " & ".join(parts))


def search_posts(
    q: str, tag: Tag | None = None, page: int = 1, *, viewer_id: uuid.UUID | None = None
) -> SearchResults:
    """Published posts matching every word of `q`, best first, with highlighted snippets.

    Ranked among the newest SEARCH_CANDIDATES matches, not all of them: ranking every match
    (ts_rank_cd reads each one's vector) grew with the corpus, 116 ms at 20,000 posts and
    5.9 s at a million for a word in 73% of the posts. The newest matches come from the feed
    index walked backwards (a common word) or from the GIN index (a rare one): the planner
    chooses on the word's frequency, and either way the work is bounded. An older post that
    matches still turns up once newer ones stop matching, or with more words."""
    terms = search_terms(q)
    if not terms:
        return SearchResults([], 1, False)
    page = max(1, min(page, SEARCH_MAX_PAGES))
    tsquery = _tsquery(terms)
    candidates = (
        select(Post.id.label("id"), Post.published_at, Post.search_vector.label("vector"))
        .join(User, User.id == Post.author_id)
        .where(Post.status == "published", Post.hidden_at.is_(None), User.deleted_at.is_(None))
        .where(Post.search_vector.op("@@")(tsquery))
    )
    candidates = _unignored(candidates, viewer_id)  # safety
    if tag is not None:
        candidates = candidates.join(post_tags, post_tags.c.post_id == Post.id).where(
            post_tags.c.tag_id == tag.id
        )
    candidates_sq = (
        candidates.order_by(Post.published_at.desc(), Post.id.desc())
        .limit(SEARCH_CANDIDATES)
        .subquery()
    )
    rank = func.ts_rank_cd(candidates_sq.c.vector, tsquery)
    # Rank the candidates, but build snippets (the costly part) for this page's rows only.
    ranked_sq = (
        select(candidates_sq.c.id, rank.label("rank"))
        .order_by(rank.desc(), candidates_sq.c.published_at.desc(), candidates_sq.c.id)
        .limit(SEARCH_PAGE_SIZE + 1)
        .offset((page - 1) * SEARCH_PAGE_SIZE)
        .subquery()
    )
    options = f"StartSel={_START}, StopSel={_STOP}, MaxWords=35, MinWords=15"
    query = (
        _published()
        .add_columns(
            func.ts_headline("english", Post.title, tsquery, f"{options}, HighlightAll=true"),
            func.ts_headline("english", Post.content_text, tsquery, options),
        )
        .join(ranked_sq, ranked_sq.c.id == Post.id)
        .order_by(None)
        .order_by(ranked_sq.c.rank.desc(), Post.published_at.desc(), Post.id)
    )
    hits = [
        Hit(_summary(row[:-2], False), _highlight(row[-2]), _highlight(row[-1]))
        for row in db.session.execute(query)
    ]
    return SearchResults(hits[:SEARCH_PAGE_SIZE], page, len(hits) > SEARCH_PAGE_SIZE)


def _highlight(text: str) -> Markup:
    """Escape everything, then turn our markers into <mark>: user text never becomes markup."""
    escaped = str(escape(text))
    return Markup(escaped.replace(_START, "<mark>").replace(_STOP, "</mark>"))  # noqa: S704
