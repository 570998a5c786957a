from __future__ import annotations

from tests.posts.helpers import new_author, new_post, signed_in


def test_write_publish_and_read(app):
    author = new_author(app)
    client = signed_in(app, author.email)
    assert client.get("/write").status_code == 200
    response = client.post_form(
        "/write",
        {
            "title": "Hello world post",
            "content": "Some *text* here, enough.",
            "tags": "Python, web dev",
            "action": "publish",
        },
        csrf_from="/write",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.location)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Hello world post" in html
    assert "<em>text</em>" in html
    other = new_author(app)
    new_post(app, other, title="Another one here", tags=["python"])
    home = client.get("/").get_data(as_text=True)
    assert "Another one here" in home
    assert "Hello world post" in home
    assert client.get("/tags").status_code == 200
    assert "Hello world post" in client.get("/tags/python").get_data(as_text=True)
    assert "<mark>Hello</mark> world post" in client.get("/search?q=hello").get_data(as_text=True)
    assert client.get("/feed.atom").status_code == 200
    assert client.get(f"/u/{author.user_name}/posts").status_code == 200
