"""Edit history: a public post's versions, newest first, each with what changed since the one
before, as a line diff of the Markdown source (difflib). The page shows the diff as escaped
text in <del>/<ins>; nothing of it is rendered as Markdown.
"""

from __future__ import annotations

import difflib
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from blog.extensions import db
from blog.posts.models import Post, PostRevision

CONTEXT_LINES = 2


@dataclass(frozen=True)
class Line:
    kind: str  # "same", "del", "ins", or "gap" (unchanged lines left out)
    text: str


@dataclass
class Version:
    version: int
    title: str
    body: str
    at: datetime | None
    current: bool = False
    title_before: str | None = None  # the previous version's title, when it differs
    lines: list[Line] = field(default_factory=list)  # the diff from the previous version
    first: bool = False  # the first public version: nothing before it to compare with


def post_revisions(post_id: uuid.UUID) -> list[PostRevision]:
    """The earlier versions of a post, newest first (one statement)."""
    return list(
        db.session.scalars(
            select(PostRevision)
            .where(PostRevision.post_id == post_id)
            .order_by(PostRevision.version.desc())
        )
    )


def line_diff(before: str, after: str, context: int = CONTEXT_LINES) -> list[Line]:
    """The lines that changed from `before` to `after`, with `context` unchanged lines around
    each change and a gap marker where more were left out."""
    old, new = before.splitlines(), after.splitlines()
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    # Read before grouping: get_grouped_opcodes trims the matcher's cached opcodes in place.
    opcodes = list(matcher.get_opcodes())
    lines: list[Line] = []
    for n, group in enumerate(matcher.get_grouped_opcodes(context)):
        if n or group[0][1] > 0:
            lines.append(Line("gap", ""))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [Line("same", text) for text in old[i1:i2]]
                continue
            lines += [Line("del", text) for text in old[i1:i2]]
            lines += [Line("ins", text) for text in new[j1:j2]]
    last = opcodes[-1] if opcodes else None
    if lines and last is not None and last[0] == "equal" and last[2] - last[1] > context:
        lines.append(Line("gap", ""))
    return lines


def post_history(post: Post) -> list[Version]:
    """The current version and the earlier ones, newest first, each compared with the one
    before it."""
    versions = [
        Version(post.version, post.title, post.content, post.edited_at or post.published_at, True)
    ]
    versions += [Version(r.version, r.title, r.body, r.edited_at) for r in post_revisions(post.id)]
    for newer, older in itertools.pairwise(versions):
        newer.lines = line_diff(older.body, newer.body)
        if older.title != newer.title:
            newer.title_before = older.title
    versions[-1].first = True
    return versions
