"""The live channel's plumbing: this process's sockets, its Redis listener, and publishing.

One websocket per tab (the route lives in blog/notifications/live.py). Any process, web or
worker, publishes an HTML fragment on the user's Redis channel (`blog:live:user:<uuid>`), or
one fragment for many users on `blog:live:many` (a fan-out); each web process runs ONE listener
thread, subscribed to both, that forwards a message to those users' sockets in this process.
Sends on a socket are serialised by its lock.

A second thread re-checks, every few seconds and in one query for all of this process's
sockets, that their sign-in sessions are still valid, and closes those that are not (signed
out elsewhere, suspended, expired, idle past the limit): first a last message that says so
(render_ended), then the close with CLOSE_POLICY, after which the tab stays off. When Redis
is unreachable the listener tells every local socket (a "degraded" notice) and reconnects
with backoff; the notice clears when it is back.

Publishing is a side effect: call `publish_to_user` only after the commit that made the news.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "blog:live:user:"
PATTERN = CHANNEL_PREFIX + "*"
# One message for many users: {"users": [uuid, ...], "html": "..."} (publish_many), or for
# every tab showing a topic: {"topic": "post:<uuid>", "html": "..."} (publish_to_topic).
MANY_CHANNEL = "blog:live:many"
_EXT_KEY = "blog_live"
# The htmx ws extension reconnects by itself after these close codes only (1006, 1011-1013):
# a server going away says 1012 so the tab comes back; a revoked session says 1008 and stays off.
CLOSE_POLICY = 1008
CLOSE_RESTART = 1012
SEND_TIMEOUT_SECONDS = 5
BACKOFF_SECONDS = (0.5, 1, 2, 4, 8)  # then 8 s until Redis answers again

SessionCheck = Callable[[list[uuid.UUID]], set[uuid.UUID]]
StatusRenderer = Callable[[bool], str]
# The last message of a socket whose session ended: html per session id (the close follows).
EndedRenderer = Callable[[list[uuid.UUID]], dict[uuid.UUID, str]]
ClientHandler = Callable[["LiveSocket", dict[str, Any]], None]
_CLIENT_HANDLERS: dict[str, ClientHandler] = {}

# Presence: one sorted set per user, `blog:presence:<uuid>`, whose members are the web
# processes holding a socket of theirs, scored by when that claim expires. A process refreshes
# its claims every PRESENCE_REFRESH_SECONDS and withdraws one when the user's last local socket
# closes; a process that dies stops refreshing, and its claims lapse after PRESENCE_TTL_SECONDS.
PRESENCE_PREFIX = "blog:presence:"
PRESENCE_TTL_SECONDS = 60
PRESENCE_REFRESH_SECONDS = 20


def channel_for(user_id: uuid.UUID | str) -> str:
    return f"{CHANNEL_PREFIX}{user_id}"


def publish_to_user(user_id: uuid.UUID | str, html: str) -> bool:
    """Send `html` to every open tab of the user, on every web process. After commit only.

    Best effort: False (logged) when Redis is down; the page shows the truth on its next load.
    """
    return publish_many([(user_id, html)]) == 1


def publish_many(messages: Iterable[tuple[uuid.UUID | str, str]]) -> int:
    """Publish many (user, html) messages in one round trip. After commit only.

    Returns how many users the messages were for (0 when Redis is down). Users who get the
    same html share one message on MANY_CHANNEL (the users' ids and the html, JSON), which each
    web process's listener forwards to its sockets of those users: a fan-out to a thousand
    followers, who see the same toast and only a handful of different counts, is a few
    messages for Redis and each web process to handle, not a thousand.
    """
    from blog.core.redis import get_redis

    by_html: dict[str, list[str]] = {}
    for user_id, html in messages:
        by_html.setdefault(html, []).append(str(user_id))
    if not by_html:
        return 0
    users = 0
    try:
        pipe = get_redis().pipeline(transaction=False)
        for html, user_ids in by_html.items():
            users += len(user_ids)
            if len(user_ids) == 1:
                pipe.publish(channel_for(user_ids[0]), html)
            else:
                pipe.publish(MANY_CHANNEL, json.dumps({"users": user_ids, "html": html}))
        pipe.execute()
    except RedisError as exc:
        log.warning("live: could not publish to %d user(s): %s", users, exc)
        return 0
    return users


def publish_to_topic(topic: str, html: str) -> bool:
    """Send `html` to every open tab that shows `topic` (a tab says what it shows, e.g.
    "post:<uuid>", through a client message whose handler adds it to `LiveSocket.topics`), on
    every web process. After commit only; best effort, as publish_many."""
    from blog.core.redis import get_redis

    try:
        get_redis().publish(MANY_CHANNEL, json.dumps({"topic": topic, "html": html}))
    except RedisError as exc:
        log.warning("live: could not publish to topic %s: %s", topic, exc)
        return False
    return True


class LiveSocket:
    """One open websocket: whose it is, and a lock so that one send finishes before the next."""

    def __init__(self, ws: Any, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        self.ws = ws
        self.user_id = user_id
        self.session_id = session_id
        self._lock = threading.Lock()
        self.closed = False
        # What the tab told us (conversations it shows), and per-socket throttles.
        self.topics: set[str] = set()
        self.state: dict[str, Any] = {}
        # A stalled client must not hold the listener thread for long: bound each send (the
        # reader thread is unaffected, it selects before it reads).
        raw = getattr(ws, "sock", None)
        if isinstance(raw, socket.socket):
            try:
                timeval = int(SEND_TIMEOUT_SECONDS).to_bytes(8, "little") + bytes(8)
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
            except OSError:  # pragma: no cover - not every platform takes it
                pass

    def send(self, html: str) -> bool:
        with self._lock:
            if self.closed:
                return False
            try:
                self.ws.send(html)
                return True
            except Exception:  # noqa: BLE001 - any failure means this socket is done
                self.closed = True
                return False

    def close(self, code: int, reason: str) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            # The peer may have gone already.
            with contextlib.suppress(Exception):
                self.ws.close(reason=code, message=reason)


def on_client_message(message_type: str) -> Callable[[ClientHandler], ClientHandler]:
    """Register the handler of one kind of JSON message a tab sends (`{"type": ...}`)."""

    def decorator(fn: ClientHandler) -> ClientHandler:
        _CLIENT_HANDLERS[message_type] = fn
        return fn

    return decorator


def dispatch(live: LiveSocket, raw: str | bytes) -> None:
    """Handle one message from a tab, in its socket's thread (inside the handshake's app
    context). Anything malformed or unknown is ignored; a handler's failure is logged and
    rolled back, never the end of the socket. The pooled connection goes back after each."""
    from blog.core.dbgate import slot
    from blog.extensions import db

    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return
    if not isinstance(data, dict):
        return
    handler = _CLIENT_HANDLERS.get(str(data.get("type", "")))
    if handler is None:
        return
    try:
        with slot():  # more sockets than connections: wait for a slot, not in the pool
            handler(live, data)
    except Exception:  # one bad message must not end the socket
        log.exception("live: handler of %r failed", data.get("type"))
        with contextlib.suppress(Exception):
            db.session.rollback()
    finally:
        db.session.remove()


def presence_key(user_id: uuid.UUID | str) -> str:
    return f"{PRESENCE_PREFIX}{user_id}"


# Which presence keys hold a claim that has not lapsed: one command for any number of users
# (a pipeline of a ZCOUNT each cost ~10 ms of Python for a 1,000-follower fan-out).
_ONLINE_LUA = """
local present = {}
for i, key in ipairs(KEYS) do
  if redis.call('ZCOUNT', key, ARGV[1], '+inf') > 0 then
    present[#present + 1] = i
  end
end
return present
"""


def online(user_ids: Iterable[uuid.UUID | str]) -> set[str]:
    """Which of these users have an open tab on some web process (one round trip)."""
    from blog.core.redis import get_redis

    ids = [str(u) for u in user_ids]
    if not ids:
        return set()
    try:
        found = get_redis().register_script(_ONLINE_LUA)(
            keys=[presence_key(u) for u in ids], args=[time.time()]
        )
    except RedisError as exc:
        log.warning("live: presence unavailable: %s", exc)
        return set()
    return {ids[int(i) - 1] for i in found}


class LiveHub:
    """This process's sockets, the Redis listener and the session watchdog (one per app)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._sockets: dict[str, set[LiveSocket]] = {}
        self._lock = threading.Lock()
        self._started = False
        self._stop = threading.Event()
        self.subscribed = threading.Event()
        self.session_check: SessionCheck | None = None
        self.render_status: StatusRenderer = _default_status
        self.render_ended: EndedRenderer | None = None
        self.check_interval = float(app.config.get("LIVE_SESSION_CHECK_SECONDS", 2.0))
        # This process's name in the presence sets.
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.checks = 0  # completed session checks (tests wait on it rather than on a clock)

    # ------------------------------------------------------------------ sockets

    def register(self, live: LiveSocket) -> None:
        with self._lock:
            self._sockets.setdefault(str(live.user_id), set()).add(live)
        self._ensure_started()
        self._claim([str(live.user_id)])

    def unregister(self, live: LiveSocket) -> None:
        with self._lock:
            sockets = self._sockets.get(str(live.user_id))
            last = False
            if sockets is not None:
                sockets.discard(live)
                if not sockets:
                    del self._sockets[str(live.user_id)]
                    last = True
        if last:
            self._withdraw(str(live.user_id))

    def sockets(self, user_id: uuid.UUID | str | None = None) -> list[LiveSocket]:
        with self._lock:
            if user_id is not None:
                return list(self._sockets.get(str(user_id), ()))
            return [s for group in self._sockets.values() for s in group]

    def count(self) -> int:
        """How many sockets this process holds."""
        with self._lock:
            return sum(len(group) for group in self._sockets.values())

    def forward(self, user_id: str, html: str) -> int:
        """Deliver to this process's sockets of `user_id`; returns how many took it."""
        delivered = 0
        for live in self.sockets(user_id):
            if live.send(html):
                delivered += 1
        return delivered

    def forward_topic(self, topic: str, html: str) -> int:
        """Deliver to this process's sockets whose tab shows `topic`."""
        delivered = 0
        for live in self.sockets():
            if topic in live.topics and live.send(html):
                delivered += 1
        return delivered

    def _forward_many(self, data: str) -> None:
        try:
            payload = json.loads(data)
            if "topic" in payload:
                self.forward_topic(str(payload["topic"]), str(payload["html"]))
                return
            user_ids, html = list(payload["users"]), str(payload["html"])
        except (ValueError, KeyError, TypeError):
            log.warning("live: ignored a malformed message on %s", MANY_CHANNEL)
            return
        with self._lock:
            local = [str(u) for u in user_ids if str(u) in self._sockets]
        for user_id in local:
            self.forward(user_id, html)

    def status_html(self) -> str:
        return self.render_status(self.subscribed.is_set())

    # ------------------------------------------------------------------ threads

    def _ensure_started(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        for target, name in (
            (self._listen, "live-listener"),
            (self._watch, "live-sessions"),
            (self._refresh_presence, "live-presence"),
        ):
            threading.Thread(target=target, name=name, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _client(self) -> Redis:
        # Its own connection: a subscribed connection can do nothing else. No retries inside
        # redis-py: this loop reconnects, and says so to the sockets meanwhile.
        return Redis.from_url(
            self.app.config["REDIS_URL"],
            socket_connect_timeout=2,
            socket_timeout=10,
            health_check_interval=5,
            retry=Retry(NoBackoff(), 0),
        )

    def _listen(self) -> None:
        failures = 0
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self._client().pubsub(ignore_subscribe_messages=False)
                # Both on one connection; the psubscribe is confirmed last, so once it is,
                # both are live.
                pubsub.subscribe(MANY_CHANNEL)
                pubsub.psubscribe(PATTERN)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        failures = 0
                        self._set_subscribed(True)
                    elif message["type"] == "pmessage":
                        channel = _text(message["channel"])
                        self.forward(channel.removeprefix(CHANNEL_PREFIX), _text(message["data"]))
                    elif message["type"] == "message":
                        self._forward_many(_text(message["data"]))
            except (RedisError, OSError) as exc:
                failures += 1
                if failures == 1:
                    log.warning("live: Redis listener lost its connection: %s", exc)
                self._set_subscribed(False)
            except Exception:  # pragma: no cover - never let the one listener die
                log.exception("live: listener error")
                self._set_subscribed(False)
                failures += 1
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()
            delay = BACKOFF_SECONDS[min(max(failures, 1), len(BACKOFF_SECONDS)) - 1]
            self._stop.wait(delay)

    def _set_subscribed(self, ok: bool) -> None:
        if ok == self.subscribed.is_set():
            return
        if ok:
            self.subscribed.set()
        else:
            self.subscribed.clear()
        # Tell every local tab: the notice appears (or clears) without a reload.
        try:
            with self.app.app_context():
                html = self.status_html()
        except Exception:  # pragma: no cover
            log.exception("live: could not render the status notice")
            return
        for live in self.sockets():
            live.send(html)

    # ------------------------------------------------------------------ presence

    def _claim(self, user_ids: list[str]) -> None:
        from blog.core.redis import get_redis

        if not user_ids:
            return
        expires = time.time() + PRESENCE_TTL_SECONDS
        try:
            pipe = get_redis().pipeline(transaction=False)
            for user_id in user_ids:
                key = presence_key(user_id)
                pipe.zadd(key, {self.token: expires})
                pipe.zremrangebyscore(key, "-inf", time.time())
                pipe.expire(key, PRESENCE_TTL_SECONDS)
            pipe.execute()
        except RedisError as exc:
            log.warning("live: could not record presence: %s", exc)

    def _withdraw(self, user_id: str) -> None:
        from blog.core.redis import get_redis

        try:
            get_redis().zrem(presence_key(user_id), self.token)
        except RedisError as exc:
            log.warning("live: could not withdraw presence: %s", exc)

    def _refresh_presence(self) -> None:
        while not self._stop.wait(PRESENCE_REFRESH_SECONDS):
            with self._lock:
                users = list(self._sockets)
            try:
                with self.app.app_context():
                    self._claim(users)
            except Exception:  # pragma: no cover - never let the thread die
                log.exception("live: presence refresh failed")

    def _watch(self) -> None:
        while not self._stop.wait(self.check_interval):
            live = self.sockets()
            if not live or self.session_check is None:
                continue
            try:
                with self.app.app_context():
                    valid = self.session_check(sorted({s.session_id for s in live}))
            except Exception as exc:  # noqa: BLE001 - a database blip must not close every tab
                log.warning("live: could not check sessions: %s", exc)
                continue
            ended = [s for s in live if s.session_id not in valid]
            if ended:
                notices = self._ended_notices(sorted({s.session_id for s in ended}))
                for s in ended:
                    # The notice first, on the same socket: it arrives before the close.
                    if s.session_id in notices:
                        s.send(notices[s.session_id])
                    s.close(CLOSE_POLICY, "signed out")
            self.checks += 1

    def _ended_notices(self, session_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        if self.render_ended is None:
            return {}
        try:
            with self.app.app_context():
                return self.render_ended(session_ids)
        except Exception:  # the sockets close anyway, and the page says it without the notice
            log.exception("live: could not render the signed-out notice")
            return {}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _default_status(ok: bool) -> str:
    return "" if ok else '<p id="live-status" role="status">Live updates are unavailable.</p>'


def get_hub(app: Flask | None = None) -> LiveHub:
    """This app's hub, made on first use (its threads start with the first socket)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    hub: LiveHub | None = app.extensions.get(_EXT_KEY)
    if hub is None:
        hub = app.extensions.setdefault(_EXT_KEY, LiveHub(app))
    return hub


def init_live(app: Flask) -> None:
    """Socket limits (field notes: flask-sock sets none): 64 KiB messages, pings every 25 s."""
    options = app.config.setdefault("SOCK_SERVER_OPTIONS", {})
    options.setdefault("max_message_size", 64 * 1024)
    options.setdefault("ping_interval", 25)
    get_hub(app)
