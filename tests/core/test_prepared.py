"""Server-side prepared statements (blog/core/prepared.py): the same rows as the statement
itself, prepared once per connection, kept across a rollback, prepared again on a new
connection, and planned once (PostgreSQL's generic plan) rather than on every request."""

from __future__ import annotations

from sqlalchemy import bindparam, create_engine, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from blog.auth.models import User
from blog.core.prepared import Prepared
from blog.extensions import db
from blog.posts import queries
from tests.conftest import new_client
from tests.posts.helpers import new_author, new_post, signed_in

_NAME = bindparam("user_name")
_ID = bindparam("user_id")


def _prepared(name: str) -> tuple[int, int] | None:
    """(generic plans, custom plans) of this connection's statement `name`, or None."""
    row = db.session.execute(
        text("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = :n"),
        {"n": name},
    ).first()
    return None if row is None else (row[0], row[1])


def test_same_rows_as_the_statement_and_one_statement(app, count_queries):
    author = new_author(app, display_name="Prepared Person")
    posts = [new_post(app, author, tags=["one", "two"]) for _ in range(3)]
    by_name = Prepared(
        "test_users_by_name",
        lambda: select(User.id, User.display_name, User.created_at).where(User.user_name == _NAME),
    )
    with app.app_context():
        page = queries.home_feed()
        assert [p.id for p in page.posts] == [p.id for p in reversed(posts)]
        assert [t.name for t in page.posts[0].tags] == ["one", "two"]
        with count_queries() as counter:
            found = by_name.execute({"user_name": author.user_name}).all()
        expected = db.session.execute(
            select(User.id, User.display_name, User.created_at).where(
                User.user_name == author.user_name
            )
        ).all()
        assert [tuple(r) for r in found] == [tuple(r) for r in expected]
        assert found[0][0] == author.id  # a uuid.UUID, as the ORM gives it
        assert counter.count == 1
        assert counter.statements[0].startswith("EXECUTE test_users_by_name(")
        db.session.remove()


def test_prepared_once_per_connection_kept_across_rollback_and_planned_once(app):
    author = new_author(app)
    new_post(app, author)
    anonymous = queries._listing("home", False, False, False, 20)
    reader = queries._listing("home", False, True, False, 20)
    with app.app_context():
        # A connection of its own, new: a pooled one may hold these statements already, with
        # the custom plans of earlier tests' data in their history (PostgreSQL weighs that
        # history and the tables' statistics, which TRUNCATE keeps, to choose the generic plan).
        engine = create_engine(db.engine.url, poolclass=NullPool)
        connection = engine.connect()
        session = Session(bind=connection)  # one connection throughout
        session.execute(text("ANALYZE posts, users, post_reactions, bookmarks, user_screens"))
        for _ in range(12):
            assert len(anonymous.execute({}, session).all()) == 1
            assert len(reader.execute({"viewer_id": author.id}, session).all()) == 1
        stored = session.execute(
            text(
                "SELECT name, parameter_types::text, statement, generic_plans, custom_plans"
                " FROM pg_prepared_statements ORDER BY name"
            )
        ).all()
        by_name = {row.name: row for row in stored}
        # The statement's own values are in its text: a LIMIT left as a parameter gets a
        # generic plan costed for every row, so PostgreSQL would plan it on every request.
        assert by_name[anonymous.name].parameter_types == "{}"
        assert "LIMIT 21" in by_name[anonymous.name].statement
        assert by_name[reader.name].parameter_types == "{uuid}"
        # Five custom plans, then the generic one: no more planning.
        assert by_name[reader.name].custom_plans <= 5
        assert by_name[reader.name].generic_plans >= 7
        session.rollback()  # not transactional: the rollback keeps them
        assert len(anonymous.execute({}, session).all()) == 1
        session.close()
        connection.close()
        engine.dispose()
    with app.app_context():
        # A new connection (the pool replaced the one it had) prepares it again on first use.
        db.session.connection().invalidate()
        db.session.remove()
        assert queries.home_feed().posts
        assert _prepared(anonymous.name) is not None
        db.session.remove()


def test_signed_in_page_runs_its_statements_prepared(app, count_queries):
    author = new_author(app)
    new_post(app, author)
    reader = signed_in(app, author.email)
    reader.get("/")
    with count_queries() as counter:
        assert reader.get("/").status_code == 200
        assert new_client(app).get("/").status_code == 200
    executed = [s.split("(")[0] for s in counter.statements]
    # Signed in: the session lookup (which reads the two badges too) and the list; a visitor:
    # the list.
    assert executed == [
        "EXECUTE session_lookup",
        "EXECUTE list_home_010_20",
        "EXECUTE list_home_000_20",
    ], counter.statements


def test_another_statement_under_a_known_name_is_prepared_anew(app):
    author = new_author(app, display_name="Renamed Statement")
    first = Prepared("test_same_name", lambda: select(User.user_name).where(User.id == _ID))
    second = Prepared("test_same_name", lambda: select(User.display_name).where(User.id == _ID))
    with app.app_context():
        assert first.execute({"user_id": author.id}).one()[0] == author.user_name
        # The same connection, the same name, another text: not the old plan's answer.
        assert second.execute({"user_id": author.id}).one()[0] == "Renamed Statement"
        assert first.execute({"user_id": author.id}).one()[0] == author.user_name
        db.session.remove()
