"""Staff pages for accounts: who may see and do what, and that each action does it, audited."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from blog.audit.models import AuditLog
from blog.auth.models import User
from blog.core.db import utcnow
from blog.extensions import db
from tests.conftest import new_client
from tests.factories import make_user


@pytest.fixture
def people(app):
    with app.app_context():
        made = {
            "admin": make_user(email="admin@example.com", user_name="admin", role="admin"),
            "mod": make_user(email="mod@example.com", user_name="mod", role="moderator"),
            "ada": make_user(email="ada@example.com", user_name="ada"),
            "bob": make_user(email="bob@example.com", user_name="bob"),
        }
        return {name: user.id for name, user in made.items()}


def _as(app, sign_in, email):
    browser = new_client(app)
    sign_in(browser, email)
    return browser


def _user(app, user_id) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def _audit(app, action):
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action == action)).all()
        db.session.expunge_all()
        return rows


# --------------------------------------------------------------------------- access


def test_signed_out_visitors_are_sent_to_sign_in(client, people):
    for path in ("/admin/users", f"/admin/users/{people['ada']}"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


def test_ordinary_users_get_403_everywhere(app, sign_in, people):
    ada = _as(app, sign_in, "ada@example.com")
    bob = people["bob"]

    assert ada.get("/admin/users").status_code == 403
    assert ada.get(f"/admin/users/{bob}").status_code == 403
    for action in ("suspend", "reinstate", "role", "delete", "restore", "sessions/end"):
        response = ada.post_form(
            f"/admin/users/{bob}/{action}", {"reason": "x", "duration": "1d", "role": "admin"}
        )
        assert response.status_code == 403, action
    assert _user(app, bob).status == "active"


def test_moderators_get_403_on_admin_only_actions(app, sign_in, people):
    mod = _as(app, sign_in, "mod@example.com")
    ada = people["ada"]

    for action in ("role", "delete", "restore", "sessions/end"):
        response = mod.post_form(f"/admin/users/{ada}/{action}", {"role": "admin"})
        assert response.status_code == 403, action
    assert _user(app, ada).role == "user"


def test_an_unknown_user_is_404(app, sign_in, people):
    admin = _as(app, sign_in, "admin@example.com")

    assert admin.get(f"/admin/users/{uuid.uuid4()}").status_code == 404
    assert admin.get("/admin/users/not-a-uuid").status_code == 404


def test_actions_need_a_csrf_token(app, sign_in, people):
    admin = _as(app, sign_in, "admin@example.com")

    response = admin.post(
        f"/admin/users/{people['ada']}/suspend", data={"reason": "x", "duration": "1d"}
    )

    assert response.status_code == 400
    assert _user(app, people["ada"]).status == "active"


# --------------------------------------------------------------------------- search


def test_search_and_filters(app, sign_in, people):
    with app.app_context():
        for name in ("admin", "mod", "ada"):
            db.session.get(User, people[name]).email_verified_at = utcnow()
        db.session.commit()
    mod = _as(app, sign_in, "mod@example.com")

    def names(query: str) -> list[str]:
        body = mod.get(f"/admin/users?{query}").get_data(as_text=True)
        return sorted(n for n in ("admin", "mod", "ada", "bob") if f">{n}</a>" in body)

    assert names("") == ["ada", "admin", "bob", "mod"]
    assert names("q=AD") == ["ada", "admin"]
    assert names("q=bob%40example") == ["bob"]
    assert names("role=moderator") == ["mod"]
    assert names("q=%25") == []  # LIKE wildcards are literal
    assert names("verified=no") == ["bob"]
    assert names("status=suspended") == []


def test_the_list_pages_without_counting(app, sign_in, people, monkeypatch):
    """A full page offers the next one (asked for one row more, no count); the last page
    does not; a page past the end says so without a 500."""
    monkeypatch.setattr("blog.admin.users.PER_PAGE", 3)
    with app.app_context():
        for n in range(3):
            make_user(email=f"adam{n}@example.com", user_name=f"adam{n}")
        db.session.commit()
    mod = _as(app, sign_in, "mod@example.com")

    first = mod.get("/admin/users?q=ad").get_data(as_text=True)  # ada, admin, adam0-2
    assert "Accounts 1\N{EN DASH}3" in first
    assert "page=2" in first
    assert "Previous" not in first
    second = mod.get("/admin/users?q=ad&page=2").get_data(as_text=True)
    assert "Accounts 4\N{EN DASH}5" in second
    assert "page=1" in second
    assert "page=3" not in second
    past = mod.get("/admin/users?q=ad&page=9")
    assert past.status_code == 200
    assert "No accounts on this page." in past.get_data(as_text=True)
    few = mod.get("/admin/users?q=bob").get_data(as_text=True)
    assert "1 account<" in few
    assert "Page 1" not in few


def test_search_results_are_a_fragment_for_htmx(app, sign_in, people):
    browser = new_client(app, htmx=True)
    sign_in(browser, "mod@example.com")

    response = browser.get("/admin/users?q=ada")

    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="user-results"')
    assert ">ada</a>" in body


# --------------------------------------------------------------------------- suspension


def test_a_moderator_suspends_a_user_whose_session_ends(app, sign_in, people):
    victim = _as(app, sign_in, "ada@example.com")
    mod = _as(app, sign_in, "mod@example.com")
    path = f"/admin/users/{people['ada']}"

    response = mod.post_form(
        f"{path}/suspend", {"reason": "Spam links", "duration": "7d"}, csrf_from=path
    )

    assert response.status_code == 302
    user = _user(app, people["ada"])
    assert (user.status, user.suspended_reason) == ("suspended", "Spam links")
    assert user.suspended_until is not None
    assert victim.get("/account").status_code == 302  # signed out at once
    assert len(_audit(app, "user.suspend")) == 1

    lifted = mod.post_form(f"{path}/reinstate", csrf_from=path)
    assert lifted.status_code == 302
    assert _user(app, people["ada"]).status == "active"


def test_a_suspension_needs_a_reason(app, sign_in, people):
    mod = _as(app, sign_in, "mod@example.com")
    path = f"/admin/users/{people['ada']}"

    response = mod.post_form(f"{path}/suspend", {"reason": "  ", "duration": "7d"}, csrf_from=path)

    assert response.status_code == 422
    assert "Give a reason" in response.get_data(as_text=True)
    assert _user(app, people["ada"]).status == "active"


def test_an_indefinite_suspension_has_no_end(app, sign_in, people):
    admin = _as(app, sign_in, "admin@example.com")
    path = f"/admin/users/{people['ada']}"

    admin.post_form(
        f"{path}/suspend", {"reason": "abuse", "duration": "indefinite"}, csrf_from=path
    )

    assert _user(app, people["ada"]).suspended_until is None


@pytest.mark.parametrize(
    ("actor", "target", "message"),
    [
        ("mod@example.com", "mod", "your own account"),
        ("mod@example.com", "admin", "administrator cannot be suspended"),
        ("admin@example.com", "admin", "your own account"),
    ],
)
def test_suspensions_that_are_refused(app, sign_in, people, actor, target, message):  # noqa: PLR0917 - pytest fixtures and parameters
    browser = _as(app, sign_in, actor)
    path = f"/admin/users/{people[target]}"

    response = browser.post_form(
        f"{path}/suspend", {"reason": "x", "duration": "1d"}, csrf_from=path
    )

    assert response.status_code == 409
    assert message in response.get_data(as_text=True)
    assert _user(app, people[target]).status == "active"


def test_only_an_admin_suspends_a_moderator(app, sign_in, people):
    with app.app_context():
        other = make_user(email="mod2@example.com", user_name="mod2", role="moderator")
        other_id = other.id
    mod = _as(app, sign_in, "mod@example.com")
    admin = _as(app, sign_in, "admin@example.com")
    path = f"/admin/users/{other_id}"

    refused = mod.post_form(f"{path}/suspend", {"reason": "x", "duration": "1d"}, csrf_from=path)
    allowed = admin.post_form(f"{path}/suspend", {"reason": "x", "duration": "1d"}, csrf_from=path)

    assert refused.status_code == 409
    assert allowed.status_code == 302
    assert _user(app, other_id).status == "suspended"


# --------------------------------------------------------------------------- admin actions


def test_an_admin_changes_a_role(app, sign_in, people):
    admin = _as(app, sign_in, "admin@example.com")
    path = f"/admin/users/{people['ada']}"

    response = admin.post_form(f"{path}/role", {"role": "moderator"}, csrf_from=path)

    assert response.status_code == 302
    assert _user(app, people["ada"]).role == "moderator"
    (entry,) = _audit(app, "user.change_role")
    assert (entry.old_values, entry.new_values) == ({"role": "user"}, {"role": "moderator"})


def test_a_bogus_role_is_refused(app, sign_in, people):
    admin = _as(app, sign_in, "admin@example.com")
    path = f"/admin/users/{people['ada']}"

    response = admin.post_form(f"{path}/role", {"role": "superuser"}, csrf_from=path)

    assert response.status_code == 422
    assert _user(app, people["ada"]).role == "user"


def test_the_last_admin_cannot_be_demoted(app, sign_in, people):
    with app.app_context():
        second = make_user(email="root@example.com", user_name="root", role="admin")
        second_id = second.id
    root = _as(app, sign_in, "root@example.com")
    path = f"/admin/users/{people['admin']}"

    first = root.post_form(f"{path}/role", {"role": "user"}, csrf_from=path)
    assert first.status_code == 302  # two admins: one may go
    admin = _as(app, sign_in, "admin@example.com")  # now an ordinary user
    assert admin.get("/admin/").status_code == 403

    # root is the last admin now; nobody else can demote root, and root cannot here either.
    response = root.post_form(f"/admin/users/{second_id}/role", {"role": "user"}, csrf_from=path)
    assert response.status_code == 409
    assert _user(app, second_id).role == "admin"


def test_an_admin_deletes_and_restores_an_account(app, sign_in, people):
    victim = _as(app, sign_in, "ada@example.com")
    admin = _as(app, sign_in, "admin@example.com")
    path = f"/admin/users/{people['ada']}"

    deleted = admin.post_form(f"{path}/delete", csrf_from=path)

    assert deleted.status_code == 302
    user = _user(app, people["ada"])
    assert user.deleted_at is not None
    assert user.purge_after is not None
    assert victim.get("/account").status_code == 302
    page = admin.get(path).get_data(as_text=True)
    assert "Restore this account" in page

    restored = admin.post_form(f"{path}/restore", csrf_from=path)

    assert restored.status_code == 302
    assert _user(app, people["ada"]).deleted_at is None
    sign_in(new_client(app), "ada@example.com")
    assert [e.action for e in _audit(app, "user.delete")] == ["user.delete"]
    assert len(_audit(app, "user.restore")) == 1


def test_an_admin_ends_every_session_of_a_user(app, sign_in, people):
    first = _as(app, sign_in, "ada@example.com")
    second = _as(app, sign_in, "ada@example.com")
    admin = _as(app, sign_in, "admin@example.com")
    path = f"/admin/users/{people['ada']}"
    assert "Sign out of every device (2)" in admin.get(path).get_data(as_text=True)

    response = admin.post_form(f"{path}/sessions/end", csrf_from=path)

    assert response.status_code == 302
    assert first.get("/account").status_code == 302
    assert second.get("/account").status_code == 302
    (entry,) = _audit(app, "user.end_sessions")
    assert entry.new_values == {"sessions_ended": 2}


def test_moderators_do_not_see_sessions_or_admin_actions(app, sign_in, people):
    _as(app, sign_in, "ada@example.com")
    mod = _as(app, sign_in, "mod@example.com")

    page = mod.get(f"/admin/users/{people['ada']}").get_data(as_text=True)

    assert 'id="user-suspension"' in page
    assert 'id="user-sessions"' not in page
    assert 'id="user-admin"' not in page
