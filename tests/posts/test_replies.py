"""Threaded replies: a reply nests under its parent (three levels, deeper ones beside the last),
inline with htmx and as a plain form, placeholders keep a taken-down parent's replies, the
parent's author is told, and the post page stays at a fixed number of statements however deep."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from blog.comments.models import Comment
from blog.comments.services import add_comment
from blog.core.db import utcnow
from blog.extensions import db
from blog.notifications.models import Notification
from blog.outbox.models import OutboxEvent
from blog.posts.models import Post
from tests.conftest import new_client
from tests.factories import make_user
from tests.posts.helpers import make_post

# Measured: the post with its author and tags, the view counter, the top-level page, every
# subtree in one statement by root_id, the count.
STATEMENTS = 5


@pytest.fixture
def world(app, sign_in):
    with app.app_context():
        ada = make_user(email="ada@example.com", user_name="ada", email_verified_at=utcnow())
        bob = make_user(email="bob@example.com", user_name="bob", email_verified_at=utcnow())
        cyd = make_user(email="cyd@example.com", user_name="cyd", email_verified_at=utcnow())
        mod = make_user(
            email="mod@example.com", user_name="mod", role="moderator", email_verified_at=utcnow()
        )
        post = make_post(ada, title="On the Analytical Engine")
        top = add_comment(post, cyd, "A first thought")
        db.session.commit()
        ids = {
            "ada": ada.id,
            "bob": bob.id,
            "cyd": cyd.id,
            "mod": mod.id,
            "post": post.id,
            "slug": post.slug,
            "top": top.id,
        }

    def browser(who: str, htmx: bool = False):
        client = new_client(app, htmx=htmx)
        sign_in(client, f"{who}@example.com")
        return client

    ids["as"] = browser
    return ids


def _path(world) -> str:
    return f"/posts/{world['slug']}"


def _reply(client, world, parent, content="Agreed", **extra):
    return client.post_form(
        f"/posts/{world['post']}/comments",
        {"content": content, "parent_id": str(parent), **extra},
        csrf_from=_path(world),
    )


def _chain(app, world, depth: int) -> list[uuid.UUID]:
    """Replies each answering the one before, `depth` deep under the top comment."""
    with app.app_context():
        post = db.session.get(Post, world["post"])
        users = [db.session.get(type(post.author), world[n]) for n in ("bob", "cyd")]
        parent = db.session.get(Comment, world["top"])
        ids = [parent.id]
        for n in range(depth):
            parent = add_comment(post, users[n % 2], f"Reply level {n + 1}", parent=parent)
            ids.append(parent.id)
        db.session.commit()
        return ids


def _list_of(page: str, comment_id) -> str:
    """The markup of the reply list of `comment_id`."""
    start = page.index(f'<ol id="replies-{comment_id}"')
    depth, i = 0, start
    for match in re.finditer(r"<ol\b|</ol>", page[start:]):
        depth += 1 if match.group() == "<ol" else -1
        if depth == 0:
            return page[start : start + match.end()]
    raise AssertionError(i)


def test_a_reply_without_javascript_redirects_to_it_and_sits_under_its_parent(app, world):
    bob = world["as"]("bob")

    form = bob.get(f"/posts/{world['post']}/comments/{world['top']}/reply")
    assert form.status_code == 200
    assert "A first thought" in form.get_data(as_text=True)
    response = _reply(bob, world, world["top"], "Well *said*")

    with app.app_context():
        reply = db.session.scalar(select(Comment).where(Comment.parent_id == world["top"]))
        assert reply.root_id == world["top"]
        assert reply.path == [world["top"]]
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"#comment-{reply.id}")
    page = bob.get(_path(world)).get_data(as_text=True)
    assert f'id="comment-{reply.id}"' in _list_of(page, world["top"])
    assert "2 comments" in page  # replies count as comments


def test_an_htmx_reply_returns_the_item_for_the_parents_list_and_closes_the_form(app, world):
    bob = world["as"]("bob", htmx=True)

    inline = bob.get(f"/posts/{world['post']}/comments/{world['top']}/reply")
    body = inline.get_data(as_text=True)
    assert body.lstrip().startswith(f'<form id="reply-form-{world["top"]}"')
    assert f'hx-target="#replies-{world["top"]}"' in body
    assert "autofocus" in body
    response = _reply(bob, world, world["top"], "Inline")

    body = response.get_data(as_text=True)
    assert response.status_code == 201
    assert body.lstrip().startswith('<li id="comment-')
    assert f'<div id="reply-slot-{world["top"]}" class="reply-slot" hx-swap-oob="true">' in body
    assert '<span id="comment-count" hx-swap-oob="true">2 comments</span>' in body


def test_an_empty_reply_is_refused_beside_the_reply_form(app, world):
    bob = world["as"]("bob", htmx=True)
    response = _reply(bob, world, world["top"], "  ")
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == f"#reply-form-{world['top']}"
    assert "Write something first." in response.get_data(as_text=True)
    plain = _reply(world["as"]("bob"), world, world["top"], "")
    assert plain.status_code == 422
    assert "Reply to a comment" in plain.get_data(as_text=True)


def test_a_reply_without_a_csrf_token_is_refused(app, world):
    bob = world["as"]("bob")
    response = bob.post(
        f"/posts/{world['post']}/comments", data={"content": "x", "parent_id": str(world["top"])}
    )
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Comment).where(Comment.parent_id.is_not(None))) is None


def test_a_reply_to_another_posts_comment_or_an_unknown_one_is_404(app, world):
    with app.app_context():
        ada = db.session.get(type(db.session.get(Post, world["post"]).author), world["ada"])
        other = make_post(ada, title="Another post")
        elsewhere = add_comment(other, ada, "Elsewhere").id
        db.session.commit()
    bob = world["as"]("bob")
    assert _reply(bob, world, elsewhere).status_code == 404
    assert _reply(bob, world, uuid.uuid4()).status_code == 404
    assert _reply(bob, world, "not-a-uuid").status_code == 404
    assert bob.get(f"/posts/{world['post']}/comments/{elsewhere}/reply").status_code == 404


@pytest.mark.parametrize("status", ["archived", "draft"])
def test_a_reply_under_an_archived_or_draft_post_is_404(app, world, status):
    from blog.posts import services

    with app.app_context():
        post = db.session.get(Post, world["post"])
        if status == "archived":
            services.archive_post(post, actor=post.author)
        else:  # a draft has no comments through the services; one left from before, say
            post.status = "draft"
        db.session.commit()
    for who in ("bob", "ada"):  # the author too: nothing to reply to while it takes none
        client = world["as"](who)
        assert _reply(client, world, world["top"]).status_code == 404
        url = f"/posts/{world['post']}/comments/{world['top']}/reply"
        assert client.get(url).status_code == 404


def test_a_deleted_or_removed_parent_keeps_its_replies_under_a_placeholder(app, world):
    first = _chain(app, world, 1)[1]
    cyd = world["as"]("cyd")
    cyd.post_form(f"/comments/{world['top']}/delete", {}, csrf_from=_path(world))
    page = cyd.get(_path(world)).get_data(as_text=True)
    assert "Deleted by its author." in page
    assert f'id="comment-{first}"' in _list_of(page, world["top"])
    # A taken-down comment takes no new replies.
    assert _reply(world["as"]("bob"), world, world["top"]).status_code == 404

    mod = world["as"]("mod")
    mod.post_form(f"/comments/{first}/remove", {"reason": "Off topic"}, csrf_from=_path(world))
    _chain_under = _reply(world["as"]("cyd"), world, first)
    assert _chain_under.status_code == 404
    page = mod.get(_path(world)).get_data(as_text=True)
    assert "Removed by a moderator: Off topic" in page
    assert "1 comment" not in page
    assert "0 comments" in page


def test_a_comment_hidden_for_review_takes_no_replies(app, world):
    with app.app_context():
        db.session.get(Comment, world["top"]).hidden_at = utcnow()
        db.session.commit()
    bob = world["as"]("bob")
    assert _reply(bob, world, world["top"]).status_code == 404
    page = bob.get(_path(world)).get_data(as_text=True)
    assert f'data-reply-button="{world["top"]}"' not in page


def test_the_demo_discussion_has_a_reply(app):
    from blog.ops.demo import seed_demo_data

    with app.app_context():
        seed_demo_data()
        replies = db.session.scalars(select(Comment).where(Comment.parent_id.is_not(None))).all()
        assert len(replies) == 1


def test_replies_nest_three_levels_and_deeper_ones_sit_at_the_last(app, world):
    top, one, two, three, four = _chain(app, world, 4)
    page = new_client(app).get(_path(world)).get_data(as_text=True)

    assert f'id="comment-{one}"' in _list_of(page, top)
    level2 = _list_of(page, one)
    # Level 3 is the last: two's replies sit in the same list, after it, naming whom they answer.
    for cid in (two, three, four):
        assert f'id="comment-{cid}"' in level2
    assert f'id="replies-{two}"' not in page
    assert level2.index(f"comment-{two}") < level2.index(f"comment-{three}")
    assert f'href="#comment-{two}">in reply to bob' in level2 or (
        f'href="#comment-{two}">in reply to cyd' in level2
    )
    # Replying at the last level targets that level's list.
    form = world["as"]("ada", htmx=True).get(f"/posts/{world['post']}/comments/{four}/reply")
    assert f'hx-target="#replies-{one}"' in form.get_data(as_text=True)


def test_an_edited_comment_comes_back_with_its_replies(app, world):
    _top, one = _chain(app, world, 1)
    cyd = world["as"]("cyd", htmx=True)
    response = cyd.post_form(
        f"/comments/{world['top']}/edit", {"content": "Edited thought"}, csrf_from=_path(world)
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Edited thought" in body
    assert f'id="comment-{one}"' in body


def test_the_event_names_the_parents_author(app, world):
    _reply(world["as"]("bob"), world, world["top"])
    with app.app_context():
        event = db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == "comment.created")
        ).all()[-1]
        assert event.event_data["parent_id"] == str(world["top"])
        assert event.event_data["parent_author_id"] == str(world["cyd"])


def _kinds(app, user_id) -> list[str]:
    with app.app_context():
        return sorted(
            db.session.scalars(
                select(Notification.kind).where(
                    Notification.user_id == user_id, Notification.type == "websocket"
                )
            )
        )


def test_the_parents_author_is_told_and_the_posts_author_once(app, world, run_jobs):
    run_jobs()  # cyd's top comment told ada already
    before = _kinds(app, world["ada"])
    _reply(world["as"]("bob"), world, world["top"], "Me too, @ada")
    run_jobs()
    assert _kinds(app, world["cyd"]) == ["comment_reply"]
    # The post's author: one notice for the reply (the comment one; the mention adds nothing).
    assert _kinds(app, world["ada"]) == sorted([*before, "comment_on_post"])
    with app.app_context():
        title = db.session.scalar(
            select(Notification.title).where(Notification.kind == "comment_reply")
        )
    assert title == "bob replied to your comment"

    # The post's author answering their own post's comment thread: a reply notice only.
    with app.app_context():
        post = db.session.get(Post, world["post"])
        ada_comment = add_comment(post, post.author, "From the author")
        db.session.commit()
        ada_comment_id = ada_comment.id
    run_jobs()
    before = _kinds(app, world["ada"])
    _reply(world["as"]("bob"), world, ada_comment_id, "Thanks")
    run_jobs()
    assert _kinds(app, world["ada"]) == sorted([*before, "comment_reply"])


def test_replies_count_against_the_comment_limit(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_COMMENT_LIMIT", "2/minute")
    bob = world["as"]("bob")
    first = bob.post_form(
        f"/posts/{world['post']}/comments", {"content": "c"}, csrf_from=_path(world)
    )
    codes = [first.status_code] + [_reply(bob, world, world["top"]).status_code for _ in range(2)]
    assert codes == [302, 302, 429]


@pytest.mark.parametrize("depth", [10, 200])
def test_the_post_page_stays_at_a_fixed_number_of_statements_however_deep(
    app, world, count_queries, depth
):
    _chain(app, world, depth - 1)  # with the top comment: `depth` comments in one deep thread
    reader = new_client(app)
    reader.get(_path(world))  # warm caches (settings, view counter)

    with count_queries() as q:
        page = reader.get(_path(world)).get_data(as_text=True)

    assert page.count('class="comment"') == depth
    assert f"{depth} comments" in page
    # The same for 10 and 200: the top-level page, the subtrees in one, the count, the rest.
    assert q.count == STATEMENTS, q.statements


def test_a_signed_in_reader_sees_10_and_200_deep_at_the_same_count(app, world, count_queries):
    counts = []
    reader = world["as"]("bob")
    for depth in (10, 200):
        have = len(_all_comments(app))
        _chain_from_last(app, world, depth - have)
        reader.get(_path(world))
        with count_queries() as q:
            page = reader.get(_path(world)).get_data(as_text=True)
        assert page.count('class="comment"') == depth
        assert page.count("Reply <span") == depth  # each visible comment offers a reply
        counts.append(q.count)
    assert counts[0] == counts[1], counts


def _all_comments(app) -> list[uuid.UUID]:
    with app.app_context():
        return list(db.session.scalars(select(Comment.id)))


def _chain_from_last(app, world, n: int) -> None:
    with app.app_context():
        post = db.session.get(Post, world["post"])
        last = db.session.scalars(
            select(Comment).order_by(Comment.created_at.desc(), Comment.id.desc())
        ).first()
        author = post.author
        for i in range(n):
            last = add_comment(post, author, f"Deeper {i}", parent=last)
        db.session.commit()
