"""The baseline of benchmarks/chat_fanout.py: a bare flask-sock broadcast of the app's shape.

    gunicorn -c gunicorn.conf.py benchmarks.bare_fanout_app:app      (REDIS_URL must be set)

What the real chat does on the live path (blog/core/live.py), and nothing else: `/ws?user=N`
opens a socket for user N (no session, no database); a text frame from a tab is wrapped in an
HTML fragment of about the size of the app's and PUBLISHed once, with the list of recipients
(every user in BARE_USERS, 0..N-1); each web process runs one subscribed listener thread that
forwards it to the recipients' local sockets, one send at a time per socket. The first
frame a socket gets says which process holds it (`pid:<n>`), so the benchmark can check that
both workers took clients.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import threading
from typing import Any

from flask import Flask, request
from flask_sock import Sock
from redis import Redis

MANY = "bare:live:many"  # {"users": [...], "html": ...}: one message for all recipients
USERS = int(os.environ.get("BARE_USERS", "200"))
RECIPIENTS = [str(n) for n in range(USERS)]
# About the size of the app's message fragment (blog/chat/templates: chat/_live_message.html).
FRAGMENT = (
    '<ol hx-swap-oob="beforeend:#messages-bare"><li class="message" id="message-{seq}">'
    '<header><a href="/u/bench-sender">bench-sender</a> <time datetime="2026-11-29T10:00:00+00:00">'
    '10:00</time></header><div class="body"><p>{body}</p></div></li></ol>'
    '<span id="typing-bare" class="typing" hx-swap-oob="true"></span>'
)

app = Flask(__name__)
app.config["SOCK_SERVER_OPTIONS"] = {"max_message_size": 64 * 1024, "ping_interval": 25}
sock = Sock(app)
redis = Redis.from_url(os.environ["REDIS_URL"])

_sockets: dict[str, set[Socket]] = {}
_lock = threading.Lock()


class Socket:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.lock = threading.Lock()
        self.closed = False

    def send(self, text: str) -> None:
        with self.lock:
            if self.closed:
                return
            try:
                self.ws.send(text)
            except Exception:  # noqa: BLE001 - the socket is gone
                self.closed = True


def _listen() -> None:
    pubsub = Redis.from_url(os.environ["REDIS_URL"]).pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(MANY)
    for message in pubsub.listen():
        if message["type"] != "message":
            continue
        payload = json.loads(message["data"])
        text = payload["html"]
        with _lock:
            local = [user for user in payload["users"] if user in _sockets]
        for user in local:
            with _lock:
                targets = list(_sockets.get(user, ()))
            for target in targets:
                target.send(text)


# Imported by each gunicorn worker after the fork (preload_app is off): one listener each.
threading.Thread(target=_listen, name="bare-listener", daemon=True).start()


@sock.route("/ws")
def ws(ws: Any) -> None:
    user = request.args.get("user", "")
    live = Socket(ws)
    with _lock:
        _sockets.setdefault(user, set()).add(live)
    live.send(f"pid:{os.getpid()}")
    try:
        while not live.closed:
            data = ws.receive(timeout=5)
            if data is None:
                continue
            body = html.escape(data if isinstance(data, str) else data.decode())
            fragment = FRAGMENT.format(seq=len(body), body=body)
            redis.publish(MANY, json.dumps({"users": RECIPIENTS, "html": fragment}))
    finally:
        with _lock:
            _sockets.get(user, set()).discard(live)
        with contextlib.suppress(Exception):
            ws.close()


@app.get("/healthz")
def healthz() -> str:
    return "ok"
