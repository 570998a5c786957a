"""The live channel from a client's side: raw handshakes and a real websocket client.

Waits here wait for a condition up to a generous deadline (CI runs on 2 busy cores): they
return as soon as it holds, so they cost nothing when things are fast. A test that states a
time limit (the socket closes within 5 s of a sign-out) measures it and asserts it itself.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import simple_websocket
from flask import Flask

from blog.config import PROJECT_ROOT
from tests.conftest import Client

# How long a wait may last before the test fails: never reached when the code works.
DEADLINE_SECONDS = 30.0


def session_cookie(app: Flask, client: Client) -> str:
    name = app.config["AUTH_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None, "not signed in"
    return f"{name}={cookie.value}"


def handshake_status(base_url: str, headers: dict[str, str]) -> tuple[int, str]:
    """Send a websocket upgrade request to /ws; return the status and the Upgrade header."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(
            "GET",
            "/ws",
            headers={
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                **headers,
            },
        )
        response = conn.getresponse()
        return response.status, response.getheader("Upgrade") or ""
    finally:
        conn.close()


class LiveClient(simple_websocket.Client):
    """simple_websocket's client, without losing a frame that arrives with the 101.

    Its handshake parses only the first event of the read that completes it; a frame that came
    in the same read (the server's status, sent right after the upgrade; common on a loaded
    machine) stays unparsed until more data arrives, so `receive` times out. Parse the rest
    before the reader thread starts.
    """

    def handshake(self) -> None:
        super().handshake()
        self.connected = self._handle_events()


def connect_raw(base_url: str, cookie: str, origin: str | None = None) -> Any:
    """A websocket to /ws with the cookie of a signed-in browser, nothing received yet."""
    ws_url = base_url.replace("http://", "ws://") + "/ws"
    return LiveClient.connect(ws_url, headers={"Cookie": cookie, "Origin": origin or base_url})


def connect(base_url: str, cookie: str, origin: str | None = None) -> Any:
    """A websocket to /ws with the cookie of a signed-in browser; waits for the first message
    (the live status and the badge, sent once the server's listener is subscribed)."""
    ws = connect_raw(base_url, cookie, origin)
    first = ws.receive(timeout=DEADLINE_SECONDS)
    assert first is not None, f"no first message within {DEADLINE_SECONDS} s"
    assert 'id="live-status"' in first
    return ws


def receive_matching(ws: Any, needle: str, timeout: float = DEADLINE_SECONDS) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = ws.receive(timeout=max(0.05, deadline - time.monotonic()))
        if message is not None and needle in message:
            return str(message)
    raise AssertionError(f"no message containing {needle!r} within {timeout} s")


def wait_closed(ws: Any, timeout: float = DEADLINE_SECONDS) -> tuple[float, int | None]:
    """Seconds until the server closed the socket, and the close code."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            ws.receive(timeout=0.1)
        except simple_websocket.ConnectionClosed as closed:
            return time.monotonic() - start, closed.reason
        if not ws.connected:
            return time.monotonic() - start, ws.close_reason
    raise AssertionError(f"the socket was still open after {timeout} s")


def publish_from_another_process(app: Flask, user_id: object, html: str) -> None:
    """Run publish_to_user in a separate Python process built by the app factory, as a worker
    would."""
    env = {
        **os.environ,
        "BLOG_ENV": "testing",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "BLOG_SITE_URL": app.config["SITE_URL"],
        "BLOG_LOG_LEVEL": "WARNING",
    }
    code = (
        "import sys\n"
        "from blog import create_app\n"
        "from blog.core.live import publish_to_user\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    assert publish_to_user(sys.argv[1], sys.argv[2])\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(user_id), html],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        timeout=60,
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def wait_for_session_checks(hub: Any, passes: int = 2) -> None:
    """Until the hub's session watchdog has completed `passes` more checks of every socket:
    what a socket that must stay open is proven against (not a guess at how long they take)."""
    target = hub.checks + passes
    wait_for(lambda: hub.checks >= target, f"{passes} session checks")
