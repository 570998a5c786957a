"""Images in posts: an image uploaded from the editor is rendered with its width and height,
lazy loading and a srcset of the thumbnail job's sizes, in the preview and in the post; only
the writer's own uploads are sized; the sanitiser keeps those attributes on img alone."""

from __future__ import annotations

import re
from datetime import timedelta

from blog.core.db import utcnow
from blog.core.markdown import render_markdown, sanitise_html
from blog.uploads.images import image_sizes, thumbnail_size
from tests.posts.helpers import new_author, signed_in
from tests.uploads.helpers import png, upload


def _image(client, size=(1200, 800), name="engine.png") -> str:
    response = upload(client, "/uploads/image", png(size), name, "image/png", csrf_from="/write")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return re.search(r"\((/files/[0-9a-f-]{36})\)", response.get_data(as_text=True)).group(1)


def test_a_published_image_has_its_size_srcset_and_lazy_loading(app):
    # An established account: a new one may put one image in a post (blog.safety.newcomers).
    author = new_author(app, created_at=utcnow() - timedelta(days=3))
    client = signed_in(app, author.email)
    src = _image(client)
    small = _image(client, (200, 100), "small.png")
    body = (
        f"Before.\n\n![The engine]({src})\n\n![Small]({small})\n\n![Far](https://example.org/a.png)"
    )

    preview = client.post_form("/write/preview", {"content": body}, csrf_from="/write")
    html = preview.get_data(as_text=True)
    expected = (
        f'<img src="{src}" alt="The engine" width="1200" height="800" '
        f'srcset="{src}/thumb 320w, {src} 1200w" sizes="(max-width: 42rem) 100vw, 40rem" '
        'loading="lazy">'
    )
    assert expected in html

    saved = client.post_form(
        "/write", {"title": "The engine, pictured", "content": body, "action": "publish"}
    )
    assert saved.status_code == 302
    page = client.get(saved.location).get_data(as_text=True)
    assert expected in page
    # No bigger than the thumbnail: one size, no srcset; someone else's server: lazy only.
    assert f'<img src="{small}" alt="Small" width="200" height="100" loading="lazy">' in page
    assert '<img src="https://example.org/a.png" alt="Far" loading="lazy">' in page


def test_another_persons_upload_is_not_sized(app):
    alice, bob = new_author(app), new_author(app)
    src = _image(signed_in(app, alice.email))
    with app.app_context():
        assert image_sizes(bob.id)([src]) == {}
        assert image_sizes(alice.id)([src])[src].width == 1200
        assert image_sizes(alice.id)([src + "x", "/files/not-a-uuid-at-all"]) == {}


def test_the_thumbnail_size_follows_the_job():
    assert thumbnail_size(1200, 800) == (320, 213)
    assert thumbnail_size(800, 1200) == (213, 320)
    assert thumbnail_size(100, 50) == (100, 50)


def test_size_attributes_survive_only_on_img():
    dirty = (
        '<p width="9" srcset="x 1w" loading="eager"><img src="/a.png" width="10" height="5" '
        'srcset="/a.png 10w" sizes="10px" loading="eager" onerror="alert(1)" hx-get="/x"></p>'
    )
    clean = sanitise_html(dirty)
    assert clean == (
        '<p><img src="/a.png" width="10" height="5" srcset="/a.png 10w" sizes="10px" '
        'loading="lazy"></p>'
    )
    # Raw HTML in Markdown stays text, whatever attributes it carries.
    html = render_markdown('<img src="/a.png" srcset="javascript:alert(1) 1w">').html
    assert "<img" not in html
