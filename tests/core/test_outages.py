"""Issue 19: PostgreSQL gone or a table locked → a clear 503 within seconds, for everyone; the
probes answer throughout; a setting nested 5,000 deep is a message, not a RecursionError."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from blog.core.dbgate import _EXT_KEY
from tests.conftest import _free_port, new_client
from tests.factories import make_user


@pytest.fixture
def ada(app, sign_in):
    with app.app_context():
        make_user(email="ada@example.com", user_name="ada")
    browser = new_client(app)
    sign_in(browser, "ada@example.com")
    return browser


# --------------------------------------------------------------------------- database down


@pytest.fixture(scope="module")
def dead_database_app(make_app):
    """The app pointed at a PostgreSQL that is not there (nothing listens on the port)."""
    return make_app(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{_free_port()}/blog")


@pytest.mark.parametrize("path", ["/", "/notifications", "/chat", "/account/sessions"])
@pytest.mark.parametrize("hx", [False, True])
def test_signed_in_pages_answer_503_while_the_database_is_down(
    app, ada, dead_database_app, path, hx
):
    # The same browser, signed in, against a process whose database has gone away: its user
    # loader fails, and the error page (whose header shows the user and their badges) must
    # not query the dead database a second time.
    browser = new_client(dead_database_app, htmx=hx)
    cookie = ada.get_cookie(app.config["AUTH_COOKIE_NAME"])
    browser.set_cookie(cookie.key, cookie.value)

    started = time.monotonic()
    response = browser.get(path)
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    body = response.get_data(as_text=True)
    assert "The database is unavailable" in body
    assert ("<html" in body) is not hx
    assert elapsed < 2


def test_anonymous_pages_answer_503_while_the_database_is_down(dead_database_app):
    response = new_client(dead_database_app).get("/")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()


def test_healthz_answers_while_the_database_is_down(dead_database_app):
    assert new_client(dead_database_app).get("/healthz").status_code == 200


# --------------------------------------------------------------------------- a lock on posts


@pytest.fixture(scope="module")
def impatient_app(make_app):
    return make_app(BLOG_LOCK_TIMEOUT_MS="800")


@pytest.fixture
def lock_on_posts(app, impatient_app):
    """An ACCESS EXCLUSIVE lock on `posts`, held by another connection for the test."""
    conn = psycopg2.connect(app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg2", ""))
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE")
    yield
    conn.rollback()
    conn.close()


def test_the_lock_timeout_is_a_setting_with_a_default_of_a_few_seconds(app, impatient_app):
    def options(a):
        return a.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"]

    assert "-c lock_timeout=3000" in options(app)
    assert "-c lock_timeout=800" in options(impatient_app)


def test_a_page_reading_a_locked_table_fails_with_a_503_within_the_lock_timeout(
    impatient_app, lock_on_posts
):
    started = time.monotonic()
    response = new_client(impatient_app).get("/")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "The database is unavailable" in response.get_data(as_text=True)
    assert elapsed < 3  # 0.8 s of lock timeout; without one it waited for the lock


def test_pages_that_do_not_touch_the_locked_table_keep_answering(
    app, ada, impatient_app, lock_on_posts
):
    browser = new_client(impatient_app)
    cookie = ada.get_cookie(app.config["AUTH_COOKIE_NAME"])
    browser.set_cookie(cookie.key, cookie.value)

    started = time.monotonic()
    assert browser.get("/healthz").status_code == 200
    assert browser.get("/account/sessions").status_code == 200
    assert browser.get("/notifications").status_code == 200
    assert time.monotonic() - started < 1.5


@pytest.fixture
def full_gate(impatient_app):
    """Every database slot of the process taken, as by requests stuck behind a lock."""
    gate = impatient_app.extensions[_EXT_KEY]
    taken = 0
    while gate.acquire(0):
        taken += 1
    yield gate
    for _ in range(taken):
        gate.release()


def test_healthz_never_waits_for_the_database_gate(impatient_app, full_gate):
    started = time.monotonic()
    response = new_client(impatient_app).get("/healthz")
    assert response.status_code == 200
    assert time.monotonic() - started < 1


def test_readyz_answers_503_within_2_s_when_the_gate_is_full(impatient_app, full_gate):
    started = time.monotonic()
    response = new_client(impatient_app).get("/readyz")
    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"]["ok"] is False


def test_readyz_answers_within_2_s_while_a_table_is_locked(impatient_app, lock_on_posts):
    results = []

    def probe():
        started = time.monotonic()
        response = new_client(impatient_app).get("/readyz")
        results.append((response.status_code, time.monotonic() - started))

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(10)
    assert results
    assert results[0][1] < 2


# --------------------------------------------------------------------------- deep JSON


def test_a_setting_nested_5000_deep_is_a_422_with_a_message(app, sign_in):
    with app.app_context():
        make_user(email="admin@example.com", user_name="admin", role="admin")
    admin = new_client(app)
    sign_in(admin, "admin@example.com")

    response = admin.post_form(
        "/admin/settings/maintenance",
        {"maintenance-value": "[" * 5000 + "]" * 5000},
        csrf_from="/admin/settings",
    )

    assert response.status_code == 422
    assert "nested too deeply" in response.get_data(as_text=True)
