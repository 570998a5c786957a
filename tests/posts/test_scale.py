"""What keeps lists and search flat at a million posts: tag counts kept in `tags` (every
move in and out of the lists adjusts them; cron recounts), and search ranking the newest
matches only."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, text

from blog.auth.models import User
from blog.core.db import utcnow
from blog.extensions import db
from blog.flags import services as flag_services
from blog.posts import queries, services
from blog.posts.jobs import recount_tags
from blog.posts.models import Post, Tag
from tests.conftest import new_client
from tests.factories import make_user
from tests.posts.helpers import make_post, new_author, new_post


def _counts(app) -> dict[str, int]:  # type: ignore[no-untyped-def]
    html = new_client(app).get("/tags").get_data(as_text=True)
    found = re.findall(r'href="/tags/([^"]+)">[^<]+</a>\s*<span class="muted">(\d+) post', html)
    return {slug: int(n) for slug, n in found}


def _stored(app) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with app.app_context():
        rows = db.session.execute(select(Tag.slug, Tag.post_count)).all()
        db.session.remove()
    return {slug: n for slug, n in rows if n}


def test_counts_follow_publish_archive_republish_and_tag_edits(app):
    author = new_author(app)
    first = new_post(app, author, tags=["python", "web"])
    new_post(app, author, tags=["python"])
    new_post(app, author, tags=["python"], status="draft")
    assert _counts(app) == {"python": 2, "web": 1}
    with app.app_context():
        post = db.session.get(Post, first.id)
        user = db.session.get(User, author.id)
        services.archive_post(post, actor=user)
        db.session.commit()
    assert _counts(app) == {"python": 1}
    with app.app_context():
        post = db.session.get(Post, first.id)
        services.publish_post(post, actor=db.session.get(User, author.id))
        db.session.commit()
    assert _counts(app) == {"python": 2, "web": 1}
    with app.app_context():
        post = db.session.get(Post, first.id)
        services.update_post(
            post, title=post.title, content=post.content, tag_names=["web", "rust"]
        )
        db.session.commit()
    assert _counts(app) == {"python": 1, "web": 1, "rust": 1}
    # Editing a draft's tags changes no count (it is in no list).
    with app.app_context():
        draft = db.session.scalar(select(Post).where(Post.status == "draft"))
        services.update_post(draft, title=draft.title, content=draft.content, tag_names=["web"])
        db.session.commit()
    assert _counts(app) == {"python": 1, "web": 1, "rust": 1}


def test_a_hidden_post_leaves_its_tags_counts_until_a_moderator_decides(app):
    author = new_author(app)
    ref = new_post(app, author, tags=["cats"])
    new_post(app, author, tags=["cats"])
    with app.app_context():
        from blog.core.settings import invalidate_settings
        from blog.ops.services import set_setting

        mod = make_user(email="mod@example.com", user_name="mod", role="moderator")
        set_setting("moderation", {"flags_to_hide": 1}, environment="testing", actor=mod)
        db.session.commit()
        invalidate_settings("testing")
        reader = make_user(email="reader@example.com", user_name="reader")
        flag_services.flag(db.session.get(Post, ref.id), reporter=reader, reason="spam")
        db.session.commit()
    assert _counts(app) == {"cats": 1}
    with app.app_context():
        mod = db.session.scalar(select(User).where(User.user_name == "mod"))
        flag_services.decide(db.session.get(Post, ref.id), "disagreed", actor=mod)
        db.session.commit()
    assert _counts(app) == {"cats": 2}


def test_cron_recount_heals_what_the_deltas_do_not_follow(app):
    author = new_author(app)
    new_post(app, author, tags=["birds"])
    other = new_author(app)
    new_post(app, other, tags=["birds"])
    with app.app_context():
        # An account deleted: its posts leave the lists, which no post service saw.
        db.session.get(User, other.id).deleted_at = utcnow()
        db.session.execute(text("UPDATE tags SET post_count = 7"))  # and drift, say
        db.session.commit()
        assert recount_tags() == 1
        assert recount_tags() == 0  # nothing left to change
        db.session.remove()
    assert _stored(app) == {"birds": 1}
    assert _counts(app) == {"birds": 1}


def test_suggestions_and_the_search_page_read_the_kept_counts(app):
    author = new_author(app)
    for _ in range(2):
        new_post(app, author, tags=["pasta"])
    new_post(app, author, tags=["pastry"])
    new_post(app, author, tags=["paste"], status="draft")
    with app.app_context():
        assert queries.suggest_tags("pas", []) == ["pasta", "pastry"]
        assert queries.suggest_tags("pas", ["pasta"]) == ["pastry"]
        db.session.remove()
    html = new_client(app).get("/search?q=post").get_data(as_text=True)
    options = re.findall(r'<option value="([^"]+)"', html)
    assert options == ["pasta", "pastry"]  # most used first; the draft's tag is not offered


def _titles(html: str) -> list[str]:
    raw = re.findall(r'<h2><a href="/posts/[^"]+">(.+?)</a></h2>', html)
    return [re.sub(r"</?mark>", "", title) for title in raw]


def test_search_ranks_the_newest_matches_only(app, monkeypatch):
    author = new_author(app)
    start = utcnow() - timedelta(days=10)
    with app.app_context():
        user = db.session.get(User, author.id)
        # The oldest post is the best match (the word in its title)...
        make_post(
            user, title="Otters everywhere", content="A day by the river.", published_at=start
        )
        for day in range(1, 5):
            make_post(
                user,
                title=f"River walk {day}",
                content="We saw an otter, then tea.",
                published_at=start + timedelta(days=day),
            )
        db.session.remove()
    client = new_client(app)
    titles = _titles(client.get("/search?q=otter").get_data(as_text=True))
    assert titles[0] == "Otters everywhere"  # ranked first among all five candidates
    assert titles[1:] == [f"River walk {d}" for d in (4, 3, 2, 1)]  # equal rank: newest first
    # With room for three candidates, the three newest matches are ranked, and only they.
    monkeypatch.setattr(queries, "SEARCH_CANDIDATES", 3)
    titles = _titles(client.get("/search?q=otter").get_data(as_text=True))
    assert titles == ["River walk 4", "River walk 3", "River walk 2"]
