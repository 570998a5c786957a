"""Demo posts for `make run` (through `flask seed-demo`): a few published posts with tags and a
draft, written by the demo accounts. Idempotent: a post whose slug exists is left alone."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, select

from blog.auth.services import get_user_by_email
from blog.core.db import utcnow
from blog.extensions import db
from blog.posts.models import Post
from blog.posts.services import create_post, publish_post
from blog.posts.slugs import slugify

# (author email, title, tags, days ago published or None for a draft, Markdown)
DEMO_POSTS = (
    (
        "alice@example.com",
        "Server-rendered pages with a little htmx",
        ["htmx", "python", "web"],
        6,
        "Most pages need no client-side framework. Render HTML on the server, then let "
        "**htmx** swap the parts that change.\n\n## What we use it for\n\n"
        "- the live preview in the editor\n- search that follows your typing\n"
        "- loading older posts in place\n\n"
        "Every `hx-*` element keeps a real link or form, so the site works without "
        "JavaScript too. See [htmx.org](https://htmx.org).",
    ),
    (
        "bob@example.com",
        "Full-text search in PostgreSQL, weighted",
        ["postgresql", "search"],
        4,
        "A generated `tsvector` column keeps the index current:\n\n```sql\n"
        "setweight(to_tsvector('english', title), 'A') ||\n"
        "setweight(to_tsvector('english', content_text), 'B')\n```\n\n"
        "Titles weigh more than text, so a post *about* a subject ranks above one that "
        "mentions it.\n\n| weight | column |\n|---|---|\n| A | title |\n| B | text |",
    ),
    (
        "alice@example.com",
        "Why we count views in Redis",
        ["postgresql", "redis", "performance"],
        2,
        "Writing a row for every page view turns reads into writes. Each view is one "
        "`HINCRBY` in Redis; a job adds the totals to PostgreSQL every half minute.\n\n"
        "> The page shows the stored count plus what is still waiting, so it is never "
        "behind.",
    ),
    (
        "bob@example.com",
        "Notes on writing for the web",
        ["writing"],
        1,
        "Short paragraphs. One idea each.\n\n1. Say what the reader gets.\n"
        "2. Show an example.\n3. Stop.\n\n~~Long introductions~~ are skipped anyway.",
    ),
    (
        "alice@example.com",
        "A draft only Alice can see",
        ["writing"],
        None,
        "Drafts are visible to their author only: everyone else gets a 404. Sign in as "
        "alice to see this one under *Your posts*.",
    ),
)


def seed_demo_posts() -> int:
    """Create the demo posts that do not exist yet; returns how many were created."""
    created = 0
    for email, title, tags, days_ago, content in DEMO_POSTS:
        author = get_user_by_email(email)
        if author is None or db.session.scalar(select(exists().where(Post.slug == slugify(title)))):
            continue
        post = create_post(author, title=title, content=content, tag_names=tags)
        if days_ago is not None:
            publish_post(post, actor=author, now=utcnow() - timedelta(days=days_ago))
        created += 1
    db.session.commit()
    return created
