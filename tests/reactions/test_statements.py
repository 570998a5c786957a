"""Likes and bookmarks cost no statement per item: the home page, the post page and /saved run
the same number of statements for 10 and for 200 items, liked and saved or not.

Figures (before reactions: home 1 anonymous / 3 signed in; post page 4 / 6): the home page
is unchanged (counts are columns of the list's row, the viewer's marks EXISTS columns of the
same statement); the post page adds one statement for a signed-in reader (their likes and
bookmark on the post and the page's comments, viewer_marks) and none for a visitor. Since
the session lookup reads the navigation's badges in its own statement (blog.auth.sessions
read_with_session), a signed-in page runs one statement less: home 1 / 2, post page 5 / 7,
/saved 2.
"""

from __future__ import annotations

from blog.auth.models import User
from blog.comments.models import Comment
from blog.comments.services import add_comment
from blog.extensions import db
from blog.posts.models import Post
from blog.reactions import services
from tests.conftest import new_client
from tests.factories import make_user
from tests.posts.helpers import make_author, make_post, make_posts, new_author, signed_in
from tests.posts.test_pages import _statements


def _like_and_save(reader_id, post_ids, likers: int = 2) -> None:
    reader = db.session.get(User, reader_id)
    others = [make_user() for _ in range(likers)]
    for post_id in post_ids:
        post = db.session.get(Post, post_id)
        services.like_post(post, reader, True)
        services.save_post(post, reader, True)
        for other in others:
            services.like_post(post, other, True)
    db.session.commit()


def test_the_home_page_costs_the_same_for_10_and_200_posts(app, count_queries):
    reader = new_author(app)
    anonymous, signed = new_client(app), signed_in(app, reader.email)

    def measure() -> dict[str, int]:
        return {
            "anonymous": _statements(count_queries, anonymous, "/"),
            "signed": _statements(count_queries, signed, "/"),
        }

    with app.app_context():
        posts = make_posts(make_author(), 10)
        _like_and_save(reader.id, [p.id for p in posts])
        db.session.remove()
    small = measure()
    with app.app_context():
        posts = make_posts(make_author(), 190)
        _like_and_save(reader.id, [p.id for p in posts[-30:]])
        db.session.remove()
    page = signed.get("/").get_data(as_text=True)
    assert page.count('aria-pressed="true"') >= 20  # every card on the page: saved
    assert page.count("card-likes liked") == 20  # and liked, with its count of 3
    large = measure()
    assert small == large == {"anonymous": 1, "signed": 2}


def test_the_post_page_costs_the_same_for_10_and_200_comments(app, count_queries):
    reader = new_author(app)
    with app.app_context():
        author = make_author()
        few, many = make_post(author), make_post(author)
        commenters = [make_user() for _ in range(5)]
        me = db.session.get(User, reader.id)
        for post, n in ((few, 10), (many, 200)):
            for i in range(n):
                comment = add_comment(post, commenters[i % 5], f"Comment {i}")
                db.session.flush()
                services.like_comment(comment, post, me, True)
                services.like_comment(comment, post, commenters[(i + 1) % 5], True)
            services.like_post(post, me, True)
            services.save_post(post, me, True)
        db.session.commit()
        slugs = few.slug, many.slug
        db.session.remove()
    anonymous, signed = new_client(app), signed_in(app, reader.email)
    counts = {
        (who, slug): _statements(count_queries, client, f"/posts/{slug}")
        for who, client in (("anonymous", anonymous), ("signed", signed))
        for slug in slugs
    }
    # The thread's replies are one statement of their own (every subtree of the page by its
    # root, blog.comments.services._subtrees), however many or deep.
    assert counts == {
        ("anonymous", slugs[0]): 5,
        ("anonymous", slugs[1]): 5,
        ("signed", slugs[0]): 7,
        ("signed", slugs[1]): 7,
    }
    page = signed.get(f"/posts/{slugs[1]}").get_data(as_text=True)
    # 50 comments on the first page, each liked by the reader (and one other), and the post.
    assert page.count('aria-pressed="true"><span class="heart"') == 50 + 1
    assert 'aria-pressed="true"><svg' in page  # saved
    assert page.count('class="like-count">2</span>') == 50
    with app.app_context():
        assert db.session.query(Comment).filter(Comment.like_count == 2).count() == 210


def test_saved_costs_the_same_for_10_and_200_bookmarks(app, count_queries):
    reader = new_author(app)
    client = signed_in(app, reader.email)
    with app.app_context():
        posts = make_posts(make_author(), 10)
        _like_and_save(reader.id, [p.id for p in posts], likers=0)
        db.session.remove()
    small = _statements(count_queries, client, "/saved")
    with app.app_context():
        posts = make_posts(make_author(), 190)
        _like_and_save(reader.id, [p.id for p in posts], likers=0)
        db.session.remove()
    large = _statements(count_queries, client, "/saved")
    assert small == large == 2  # the session with its badges, the page of posts
