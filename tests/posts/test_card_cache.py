"""The kept markup of post cards and of the account menu (blog/posts/ui.py, blog/home/ui.py):
what a card or the menu shows changes as soon as its data does, and what belongs to one reader
or one request (the CSRF token, the page to come back to, the Save state, the menu's person)
never leaks into another's page."""

from __future__ import annotations

import re

from blog.auth.models import User
from blog.comments import services as comments
from blog.extensions import db
from blog.posts import services
from blog.posts.models import Post
from blog.posts.ui import _card
from blog.reactions import services as reactions
from tests.conftest import csrf_token_from, new_client
from tests.posts.helpers import new_author, new_post, signed_in


def _card_of(html: str, post_id: object) -> str:
    match = re.search(rf'<article class="post-item" id="post-{post_id}".*?</article>', html, re.S)
    assert match, f"no card of {post_id}"
    return match.group(0)


def test_a_card_follows_its_comments_likes_title_and_author(app):
    author = new_author(app, display_name="Ada Writer")
    reader = new_author(app)
    post = new_post(app, author, title="Kept markup", tags=["cache"])
    visitor = new_client(app)
    first = _card_of(visitor.get("/").get_data(as_text=True), post.id)
    assert "0 comments" in first
    assert "Ada Writer" in first
    hits = _card.cache_info().hits
    again = _card_of(visitor.get("/").get_data(as_text=True), post.id)
    assert again == first
    assert _card.cache_info().hits == hits + 1  # the unchanged card came from the cache

    with app.app_context():
        row = db.session.get(Post, post.id)
        person = db.session.get(User, reader.id)
        comments.add_comment(row, person, "A first comment.")
        reactions.like_post(row, person, True)
        db.session.get(User, author.id).display_name = "Ada Renamed"
        db.session.commit()
        db.session.remove()
    card = _card_of(visitor.get("/").get_data(as_text=True), post.id)
    assert "1 comment<" in card
    assert "Ada Renamed" in card
    assert "Ada Writer" not in card
    assert re.search(r'class="heart"[^>]*>♡</span>1<', card)

    with app.app_context():
        row = db.session.get(Post, post.id)
        services.update_post(row, title="Edited title", content=row.content, tag_names=["other"])
        db.session.commit()
        db.session.remove()
    card = _card_of(visitor.get("/").get_data(as_text=True), post.id)
    assert "Edited title" in card
    assert "/tags/other" in card
    assert "/tags/cache" not in card


def test_each_reader_gets_their_own_token_back_page_and_marks(app):
    author = new_author(app)
    alice, bob = new_author(app), new_author(app)
    post = new_post(app, author, title="Shared card")
    with app.app_context():
        reactions.save_post(db.session.get(Post, post.id), db.session.get(User, alice.id), True)
        db.session.commit()
        db.session.remove()
    a, b = signed_in(app, alice.email), signed_in(app, bob.email)
    page_a = a.get("/").get_data(as_text=True)
    page_b = b.get("/").get_data(as_text=True)
    page_b_tagged = b.get(f"/u/{author.user_name}/posts").get_data(as_text=True)
    card_a, card_b = _card_of(page_a, post.id), _card_of(page_b, post.id)
    # The Save forms carry the page's own CSRF token (the one in <body hx-headers>).
    token_a, token_b = csrf_token_from(page_a), csrf_token_from(page_b)
    assert f'name="csrf_token" value="{token_a}"' in card_a
    assert f'name="csrf_token" value="{token_b}"' in card_b
    assert token_a not in page_b
    assert token_b not in page_a
    assert 'aria-pressed="true"' in card_a
    assert 'aria-pressed="false"' in card_b
    assert 'name="next" value="/"' in card_b
    assert f'name="next" value="/u/{author.user_name}/posts"' in _card_of(page_b_tagged, post.id)
    # A visitor's card has no form at all, and no marker of one.
    visitor = new_client(app).get("/").get_data(as_text=True)
    assert "<form" not in _card_of(visitor, post.id)
    assert "\x00" not in visitor
    assert "\x00" not in page_a
    assert "\x00" not in page_b
    # Each token still works: Bob saves through his card's form.
    response = b.post(
        f"/posts/{post.id}/save", data={"csrf_token": token_b, "on": "1", "next": "/"}
    )
    assert response.status_code in (302, 303)


def test_the_account_menu_is_its_persons_and_follows_a_rename(app):
    alice, bob = new_author(app, display_name="Alice A"), new_author(app, display_name="Bob B")
    a, b = signed_in(app, alice.email), signed_in(app, bob.email)
    page_a, page_b = a.get("/").get_data(as_text=True), b.get("/tags").get_data(as_text=True)
    menu = re.compile(r'<div id="account-menu".*?</div>\s*</nav>', re.S)
    menu_a, menu_b = menu.search(page_a).group(0), menu.search(page_b).group(0)  # type: ignore[union-attr]
    assert "Alice A" in menu_a
    assert f"@{alice.user_name}" in menu_a
    assert "Bob B" not in menu_a
    assert "Bob B" in menu_b
    assert "Alice A" not in menu_b
    assert f'value="{csrf_token_from(page_a)}"' in menu_a
    assert 'name="next" value="/tags"' in menu_b  # the theme form comes back to this page
    assert "/admin" not in menu_a
    with app.app_context():
        user = db.session.get(User, alice.id)
        user.display_name = "Alice Renamed"
        user.role = "admin"
        db.session.commit()
        db.session.remove()
    menu_a = menu.search(a.get("/").get_data(as_text=True)).group(0)  # type: ignore[union-attr]
    assert "Alice Renamed" in menu_a
    assert 'href="/admin/"' in menu_a
