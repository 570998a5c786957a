"""Bookmarks: Save on the post page and on cards (htmx swaps the button, plain forms come
back), /saved newest saved first in keyset pages of 20, an archived post leaves the list."""

from __future__ import annotations

import re

from blog.auth.models import User
from blog.extensions import db
from blog.posts import services as post_services
from blog.posts.models import Post
from blog.reactions import services
from tests.conftest import new_client
from tests.posts.helpers import make_author, make_posts, new_author, new_post, signed_in


def _titles(html: str) -> list[str]:
    return re.findall(r'<h2><a href="/posts/[^"]+">([^<]+)</a></h2>', html)


def test_save_from_the_post_page_with_htmx_and_find_it_under_saved(app):
    reader, author = new_author(app), new_author(app)
    post = new_post(app, author, title="Worth keeping")
    client = signed_in(app, reader.email, htmx=True)
    response = client.post_form(
        f"/posts/{post.id}/save", {"on": "1"}, csrf_from=f"/posts/{post.slug}"
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith(f'<form id="save-post-{post.id}"')
    assert 'aria-pressed="true"' in html
    assert "Saved" in html
    page = client.get("/saved", headers={"HX-Request": "false"}).get_data(as_text=True)
    assert _titles(page) == ["Worth keeping"]
    assert 'href="/saved"' in page  # the account menu links it
    # Unsave: gone from the list.
    client.post_form(f"/posts/{post.id}/save", {"on": "0"}, csrf_from=f"/posts/{post.slug}")
    page = client.get("/saved", headers={"HX-Request": "false"}).get_data(as_text=True)
    assert _titles(page) == []
    assert "Nothing saved yet" in page


def test_save_from_a_card_without_javascript_comes_back_to_the_list(app):
    reader, author = new_author(app), new_author(app)
    post = new_post(app, author, title="On the home page")
    client = signed_in(app, reader.email)
    home = client.get("/").get_data(as_text=True)
    card = home.split(f'id="post-{post.id}"')[1].split("</article>")[0]
    assert f'action="/posts/{post.id}/save"' in card
    assert 'aria-pressed="false"' in card
    response = client.post_form(f"/posts/{post.id}/save", {"on": "1", "next": "/"}, csrf_from="/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/")
    home = client.get("/").get_data(as_text=True)
    card = home.split(f'id="post-{post.id}"')[1].split("</article>")[0]
    assert 'aria-pressed="true"' in card


def test_saved_lists_newest_saved_first_in_keyset_pages_and_drops_archived_posts(app):
    reader = new_author(app)
    with app.app_context():
        me = db.session.get(User, reader.id)
        author = make_author()
        posts = make_posts(author, 25)
        # Saved in the reverse order of publication: the list follows the saving.
        for post in posts:
            services.save_post(post, me, True)
            db.session.commit()
        expected = [p.title for p in reversed(posts)]
        archived, author_id = posts[-1].id, author.id
        db.session.remove()
    client = signed_in(app, reader.email)
    first = client.get("/saved").get_data(as_text=True)
    assert _titles(first) == expected[:20]
    more = re.search(r'<a href="([^"]+before=[^"]+)" hx-get', first)
    assert more is not None
    second = client.get(more.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert _titles(second) == expected[20:]
    with app.app_context():
        post_services.archive_post(
            db.session.get(Post, archived), actor=db.session.get(User, author_id)
        )
        db.session.commit()
    titles = _titles(client.get("/saved").get_data(as_text=True))
    assert expected[0] not in titles
    assert titles == expected[1:21]


def test_saved_is_private(app):
    reader, other, author = new_author(app), new_author(app), new_author(app)
    post = new_post(app, author, title="Mine only")
    with app.app_context():
        services.save_post(db.session.get(Post, post.id), db.session.get(User, reader.id), True)
        db.session.commit()
    assert _titles(signed_in(app, other.email).get("/saved").get_data(as_text=True)) == []
    assert new_client(app).get("/saved").status_code == 302
