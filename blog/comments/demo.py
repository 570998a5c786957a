"""Demo comments for `make run`: a short discussion under the first demo post, one comment and
a reply to it (idempotent)."""

from __future__ import annotations

from sqlalchemy import exists, select

from blog.auth.services import get_user_by_email
from blog.comments.models import Comment
from blog.comments.services import add_comment
from blog.extensions import db
from blog.posts.models import Post
from blog.posts.slugs import slugify

POST_TITLE = "Server-rendered pages with a little htmx"
DEMO_COMMENTS = (
    ("bob@example.com", "Nice write-up, @alice. The live preview is my favourite part."),
    ("moderator@example.com", "Agreed — and it still works with JavaScript switched off."),
)


def seed_demo_comments() -> int:
    post = db.session.scalar(select(Post).where(Post.slug == slugify(POST_TITLE)))
    if post is None or not post.is_published:
        return 0
    if db.session.scalar(select(exists().where(Comment.post_id == post.id))):
        return 0
    created = 0
    previous = None
    for email, text in DEMO_COMMENTS:
        author = get_user_by_email(email)
        if author is not None:
            # Each answers the one before: the thread shows a reply.
            previous = add_comment(post, author, text, parent=previous)
            created += 1
    db.session.commit()
    return created
