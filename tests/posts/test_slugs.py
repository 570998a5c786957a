"""Slugs: Unicode-aware, unique (collisions get a suffix), and a published post's old address
keeps working after its title changes (301)."""

from __future__ import annotations

import re

import pytest

from blog.posts.slugs import TagNameInvalid, normalise_tag_name, slugify
from tests.conftest import new_client
from tests.posts.helpers import load_post, new_author, new_post, signed_in


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("Ünïcödé Çafé in 東京", "unicode-cafe-in-東京"),
        ("Привет, мир", "привет-мир"),
        ("नमस्ते दुनिया", "नमस्ते-दुनिया"),
        ("한국어 제목입니다", "한국어-제목입니다"),
        ("Straße ﬁne ½ cup", "straße-fine-1-2-cup"),
        ("snake_case and   spaces -- dashes", "snake-case-and-spaces-dashes"),
        ("!!! ??? ...", "post"),
        ("🎉🎉🎉 party", "party"),
    ],
)
def test_slugify(title, slug):
    assert slugify(title) == slug


def test_long_titles_are_cut_at_a_word():
    slug = slugify("word " * 40)
    assert len(slug) <= 80
    assert not slug.endswith("-")
    assert slug.split("-") == ["word"] * len(slug.split("-"))


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (" Python ", "python"),
        ("Machine  Learning", "machine-learning"),
        ("C++", "c++"),
        ("İstanbul", "i̇stanbul"),
        ("ΣΟΦΙΑ", "σοφια"),
        ("東京", "東京"),
    ],
)
def test_tag_names_are_normalised(raw, name):
    assert normalise_tag_name(raw, 30) == name


@pytest.mark.parametrize("raw", ["", "   ", "a" * 31, "no/slash", "<b>", "semi;colon"])
def test_bad_tag_names_are_refused(raw):
    with pytest.raises(TagNameInvalid):
        normalise_tag_name(raw, 30)


def test_collisions_get_a_suffix(app):
    author = new_author(app)
    slugs = [new_post(app, author, title="Same Title Again").slug for _ in range(3)]
    assert slugs == ["same-title-again", "same-title-again-2", "same-title-again-3"]
    assert new_post(app, author, title="Ça va? Ça va!").slug == "ca-va-ca-va"


def test_unicode_slugs_work_as_addresses(app):
    author = new_author(app)
    post = new_post(app, author, title="Ünïcödé Çafé in 東京")
    home = new_client(app).get("/").get_data(as_text=True)
    assert "/posts/unicode-cafe-in-%E6%9D%B1%E4%BA%AC" in home  # percent-encoded by url_for
    response = new_client(app).get("/posts/unicode-cafe-in-%E6%9D%B1%E4%BA%AC")
    assert response.status_code == 200
    assert post.title in response.get_data(as_text=True)


def _retitle(client, post_id, title):
    response = client.post_form(
        f"/posts/{post_id}/edit",
        {"title": title, "content": "The same text as before.", "tags": "", "action": "save"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:400]


def test_a_published_posts_old_slug_redirects(app):
    author = new_author(app)
    post = new_post(app, author, title="First Title", content="The same text as before.")
    client = signed_in(app, author.email)
    _retitle(client, post.id, "Second Title")
    _retitle(client, post.id, "Third Title")
    assert load_post(app, post.id).slug == "third-title"
    reader = new_client(app)
    for old in ("first-title", "second-title"):
        response = reader.get(f"/posts/{old}")
        assert response.status_code == 301
        assert response.location.endswith("/posts/third-title")
    # An old slug stays reserved: a new post with that title gets a suffix, not the address.
    assert new_post(app, author, title="First Title").slug == "first-title-2"
    # Going back to an old title takes the old address back.
    _retitle(client, post.id, "First Title")
    assert load_post(app, post.id).slug == "first-title"
    assert reader.get("/posts/first-title").status_code == 200
    third = reader.get("/posts/third-title")
    assert third.status_code == 301
    assert third.location.endswith("/posts/first-title")


def test_a_drafts_slug_follows_its_title_without_redirects(app):
    author = new_author(app)
    post = new_post(app, author, title="Working title", status="draft")
    client = signed_in(app, author.email)
    _retitle(client, post.id, "Final title")
    assert load_post(app, post.id).slug == "final-title"
    assert client.get("/posts/working-title").status_code == 404


def test_a_title_change_that_keeps_the_slug_keeps_it(app):
    author = new_author(app)
    new_post(app, author, title="Same words")
    post = new_post(app, author, title="Same words")  # same-words-2
    client = signed_in(app, author.email)
    _retitle(client, post.id, "SAME Words!")
    assert load_post(app, post.id).slug == "same-words-2"


def test_the_author_is_told_the_address_changed(app):
    author = new_author(app)
    post = new_post(app, author, title="Before the change", content="The same text as before.")
    client = signed_in(app, author.email)
    response = client.post_form(
        f"/posts/{post.id}/edit",
        {"title": "After the change", "content": "The same text as before.", "action": "save"},
    )
    page = client.get(response.location).get_data(as_text=True)
    assert "The post has a new address; the old one leads to it." in page


def test_unicode_tags_through_the_editor(app):
    author = new_author(app)
    client = signed_in(app, author.email)
    response = client.post_form(
        "/write",
        {
            "title": "Unicode tags here",
            "content": "Some content here.",
            "tags": "İstanbul, ΣΟΦΙΑ, Straße, ǅemal, 東京",
            "action": "publish",
        },
        csrf_from="/write",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    index = client.get("/tags").get_data(as_text=True)
    links = re.findall(r'href="(/tags/[^"]+)"', index)
    assert len(links) == 5
    for link in links:
        assert client.get(link).status_code == 200, link
