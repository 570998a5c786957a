from __future__ import annotations

from sqlalchemy import func, select

from blog.extensions import db
from blog.ops.demo import seed_demo_data
from blog.posts.models import Post
from tests.conftest import new_client


def test_demo_posts_are_seeded_once(app):
    with app.app_context():
        seed_demo_data()
        seed_demo_data()
        assert db.session.scalar(select(func.count()).select_from(Post)) == 5
        db.session.remove()
    home = new_client(app).get("/").get_data(as_text=True)
    assert "Server-rendered pages with a little htmx" in home
    assert "A draft only Alice can see" not in home
    assert new_client(app).get("/tags/postgresql").status_code == 200
