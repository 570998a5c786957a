"""/ws under production's server: gunicorn's threaded workers, two processes, each with its
own Redis listener. A publish reaches sockets on both; limits and sign-out hold there too."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from blog.config import PROJECT_ROOT
from blog.core.live import publish_to_user
from tests.conftest import _free_port
from tests.notifications.helpers import (
    DEADLINE_SECONDS,
    connect,
    handshake_status,
    receive_matching,
    session_cookie,
    wait_closed,
)
from tests.posts.helpers import new_author, signed_in

WORKERS = 2


@pytest.fixture
def gunicorn_server(app, live_port) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "BLOG_ENV": "testing",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        # The same site as the test app's: its origin is what the handshake must carry.
        "BLOG_SITE_URL": app.config["SITE_URL"],
        "BLOG_TRUSTED_HOSTS": "127.0.0.1",
        "BLOG_LOG_LEVEL": "WARNING",
        "PORT": str(port),
        "BLOG_WEB_WORKERS": str(WORKERS),
        "BLOG_WEB_THREADS": "8",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 2 * DEADLINE_SECONDS  # two workers importing the app
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)  # noqa: S310 - loopback
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_under_gunicorn_a_publish_reaches_every_socket_on_every_worker(
    app, gunicorn_server, live_server
):
    person = new_author(app)
    cookie = session_cookie(app, signed_in(app, person.email))
    origin = app.config["SITE_ORIGIN"]
    assert (
        handshake_status(gunicorn_server, {"Origin": "https://evil.example", "Cookie": cookie})[0]
        == 403
    )
    # Enough sockets that both worker processes hold some (the kernel spreads accepts).
    tabs = [connect(gunicorn_server, cookie, origin=origin) for _ in range(6)]
    try:
        with app.app_context():
            assert publish_to_user(person.id, '<span id="probe">everywhere</span>')
        for ws in tabs:
            assert "everywhere" in receive_matching(ws, "probe")
        # A page still renders while sockets hold threads.
        page = urllib.request.urlopen(f"{gunicorn_server}/healthz", timeout=DEADLINE_SECONDS)  # noqa: S310
        assert page.status == 200

        big = tabs.pop()
        with contextlib.suppress(OSError):
            big.send("x" * (1024 * 1024))
        assert wait_closed(big)[1] == 1009
    finally:
        for ws in tabs:
            ws.close()


def test_under_gunicorn_signing_out_closes_the_socket_within_5_seconds(
    app, gunicorn_server, live_server
):
    person = new_author(app)
    browser = signed_in(app, person.email)
    ws = connect(gunicorn_server, session_cookie(app, browser), origin=app.config["SITE_ORIGIN"])

    browser.post_form("/logout", {})
    elapsed, code = wait_closed(ws)

    assert elapsed < 5
    assert code == 1008
