"""Serving many sockets: gunicorn.conf.py's sizing, the per-worker socket cap and the
database gate that keeps more threads than connections from deadlocking the pool."""

from __future__ import annotations

import runpy
import time
from types import SimpleNamespace

from blog.config import PROJECT_ROOT
from blog.core.live import get_hub, publish_many
from tests.notifications.helpers import (
    connect,
    handshake_status,
    receive_matching,
    session_cookie,
)
from tests.posts.helpers import new_author, signed_in


def _gunicorn_settings(monkeypatch, **environ):  # type: ignore[no-untyped-def]
    for name in ("BLOG_WEB_THREADS", "BLOG_WEB_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(PROJECT_ROOT / "var"))  # made no dir
    return runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))


def _cap(settings, threads):  # type: ignore[no-untyped-def]
    worker = SimpleNamespace(wsgi=SimpleNamespace(config={}), cfg=SimpleNamespace(threads=threads))
    settings["post_worker_init"](worker)
    return worker.wsgi.config["LIVE_MAX_SOCKETS"]


def test_each_worker_has_threads_for_hundreds_of_sockets_and_keeps_some_for_pages(monkeypatch):
    settings = _gunicorn_settings(monkeypatch)

    assert settings["worker_class"] == "gthread"
    assert settings["threads"] >= 256
    assert _cap(settings, settings["threads"]) == settings["threads"] - 32
    # A small pool (the gunicorn tests use 8) keeps a quarter for pages.
    assert _cap(settings, 8) == 6
    assert _gunicorn_settings(monkeypatch, BLOG_WEB_THREADS="512")["threads"] == 512


def test_a_worker_at_its_socket_cap_refuses_the_handshake_and_still_serves_pages(
    app, live_server, monkeypatch
):
    person = new_author(app)
    browser = signed_in(app, person.email)
    cookie = session_cookie(app, browser)
    headers = {"Origin": live_server, "Cookie": cookie}
    monkeypatch.setitem(app.config, "LIVE_MAX_SOCKETS", 1)
    first = connect(live_server, cookie)
    try:
        assert handshake_status(live_server, headers)[0] == 503
        assert browser.get("/").status_code == 200
    finally:
        first.close()
    hub = get_hub(app)
    deadline = time.monotonic() + 10
    while hub.count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert handshake_status(live_server, headers)[0] == 101


def test_with_every_database_slot_taken_a_request_waits_then_gets_a_clear_503(app, client):
    gate = app.extensions["blog_dbgate"]
    assert gate.slots == 7  # (pool_size 10 + max_overflow 5) // 2
    wait, gate.wait_seconds = gate.wait_seconds, 0.2
    taken = 0
    try:
        while gate.acquire():
            taken += 1
        response = client.get("/")
        assert response.status_code == 503
        assert "try again" in response.get_data(as_text=True).lower()
    finally:
        for _ in range(taken):
            gate.release()
        gate.wait_seconds = wait
    assert client.get("/").status_code == 200
    # Every slot came back: the failed request did not keep one, nor did the good one.
    assert [gate.acquire() for _ in range(gate.slots)] == [True] * gate.slots
    for _ in range(gate.slots):
        gate.release()


def test_one_publish_for_many_users_reaches_the_tabs_of_those_named_and_no_one_else(
    app, live_server
):
    people = [new_author(app) for _ in range(3)]
    sockets = [connect(live_server, session_cookie(app, signed_in(app, p.email))) for p in people]
    try:
        with app.app_context():
            # Two get the same fragment (one PUBLISH naming both), one of them another one too.
            sent = publish_many(
                [
                    (people[0].id, '<p id="shared">for both</p>'),
                    (people[1].id, '<p id="shared">for both</p>'),
                    (people[0].id, '<p id="own">for the first</p>'),
                ]
            )
        assert sent == 3
        assert 'id="shared"' in receive_matching(sockets[0], 'id="shared"')
        assert 'id="own"' in receive_matching(sockets[0], 'id="own"')
        assert 'id="shared"' in receive_matching(sockets[1], 'id="shared"')
        assert sockets[2].receive(timeout=1) is None
    finally:
        for ws in sockets:
            ws.close()
