"""/ws over real HTTP: who may open it, its limits, its end, and fan-out across processes."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from datetime import timedelta

import pytest
from werkzeug.serving import make_server

from blog.core.live import get_hub, publish_to_user
from tests.conftest import _free_port
from tests.notifications.helpers import (
    DEADLINE_SECONDS,
    connect,
    connect_raw,
    handshake_status,
    publish_from_another_process,
    receive_matching,
    session_cookie,
    wait_closed,
    wait_for_session_checks,
)
from tests.posts.helpers import new_author, signed_in


@pytest.fixture
def person(app):
    return new_author(app)


@pytest.fixture
def cookie(app, person):
    return session_cookie(app, signed_in(app, person.email))


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "http://127.0.0.1.evil.example",  # a look-alike host
        "http://127.0.0.1",  # another port
        "https://127.0.0.1:{port}",  # another scheme
        "",  # none at all
    ],
)
def test_a_foreign_origin_is_refused_before_the_upgrade(live_server, live_port, cookie, origin):
    headers = {"Cookie": cookie}
    if origin:
        headers["Origin"] = origin.format(port=live_port)

    status, upgrade = handshake_status(live_server, headers)

    assert status == 403
    assert upgrade == ""


def test_without_a_session_the_handshake_is_refused(live_server):
    assert handshake_status(live_server, {"Origin": live_server})[0] == 403
    forged = {"Origin": live_server, "Cookie": "blog_session=" + "x" * 43}
    assert handshake_status(live_server, forged)[0] == 403


def test_the_site_origin_with_a_session_is_upgraded(live_server, cookie):
    status, upgrade = handshake_status(live_server, {"Origin": live_server, "Cookie": cookie})

    assert status == 101
    assert upgrade.lower() == "websocket"


def test_a_publish_reaches_every_tab_of_the_user_and_no_one_else(app, live_server, cookie, person):
    other = new_author(app)
    other_cookie = session_cookie(app, signed_in(app, other.email))
    tab1, tab2 = connect(live_server, cookie), connect(live_server, cookie)
    stranger = connect(live_server, other_cookie)
    try:
        with app.app_context():
            assert publish_to_user(person.id, '<span id="probe">one</span>')

        assert "one" in receive_matching(tab1, "probe")
        assert "one" in receive_matching(tab2, "probe")
        # The listener forwards in publish order: had the stranger been sent the first
        # message, it would come before this one, meant for them.
        with app.app_context():
            assert publish_to_user(other.id, '<span id="theirs">two</span>')
        assert 'id="theirs"' in stranger.receive(timeout=DEADLINE_SECONDS)
    finally:
        for ws in (tab1, tab2, stranger):
            ws.close()


def test_a_publish_from_another_process_reaches_tabs_on_two_web_servers(
    app, make_app, live_server, cookie, person
):
    # A second "web process": its own app, hub and listener thread, its own HTTP server.
    second = make_app()
    port = _free_port()
    server = make_server("127.0.0.1", port, second, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tab1 = connect(live_server, cookie)
    tab2 = connect(f"http://127.0.0.1:{port}", cookie, origin=live_server)
    try:
        publish_from_another_process(app, person.id, '<span id="probe">from afar</span>')

        assert "from afar" in receive_matching(tab1, "probe")
        assert "from afar" in receive_matching(tab2, "probe")
    finally:
        tab1.close()
        tab2.close()
        server.shutdown()
        get_hub(second).stop()


def test_a_message_over_the_size_limit_closes_the_socket_with_1009(live_server, cookie):
    ws = connect(live_server, cookie)
    # The server may hang up before the whole megabyte is written.
    with contextlib.suppress(OSError):
        ws.send("x" * (1024 * 1024))

    _elapsed, code = wait_closed(ws)

    assert code == 1009


def test_signing_out_elsewhere_closes_the_open_socket_within_5_seconds(app, live_server, person):
    browser = signed_in(app, person.email)
    ws = connect(live_server, session_cookie(app, browser))
    other_device = signed_in(app, person.email)
    # Still open while only another device signs in: the watchdog has looked twice since.
    wait_for_session_checks(get_hub(app))
    assert ws.receive(timeout=0) is None  # raises if the server closed it
    assert ws.connected

    response = browser.post_form("/logout", {})
    assert response.status_code in (302, 204)
    elapsed, code = wait_closed(ws)

    assert elapsed < 5
    assert code == 1008
    # The other device's socket is still welcome.
    ws2 = connect(live_server, session_cookie(app, other_device))
    ws2.close()


def test_a_session_idle_past_the_limit_closes_its_socket(app, live_server, person):
    """The watchdog judges idle expiry as a request does (blog.auth.sessions): a socket is not
    activity, so a tab left open past SESSION_IDLE_HOURS is signed out."""
    from sqlalchemy import update

    from blog.auth.models import UserSession
    from blog.auth.sessions import hash_token
    from blog.core.db import utcnow
    from blog.extensions import db

    idle_browser = signed_in(app, person.email)
    active_browser = signed_in(app, person.email)
    idle_ws = connect(live_server, session_cookie(app, idle_browser))
    active_ws = connect(live_server, session_cookie(app, active_browser))
    name = app.config["AUTH_COOKIE_NAME"]
    limit = timedelta(hours=app.config["SESSION_IDLE_HOURS"])

    def last_seen(browser, when):
        token = browser.get_cookie(name).value
        db.session.execute(
            update(UserSession)
            .where(UserSession.token_hash == hash_token(token))
            .values(last_seen_at=when)
        )

    try:
        with app.app_context():
            now = utcnow()
            last_seen(idle_browser, now - limit - timedelta(minutes=1))  # just past the limit
            last_seen(active_browser, now - limit + timedelta(minutes=5))  # just inside it
            db.session.commit()

        elapsed, code = wait_closed(idle_ws)

        assert elapsed < 5
        assert code == 1008
        # The session inside the limit keeps its socket, however many checks pass.
        wait_for_session_checks(get_hub(app))
        assert active_ws.receive(timeout=0) is None  # raises if the server closed it
        assert active_ws.connected
        # And a request agrees with the watchdog: the idle session is signed out there too.
        response = idle_browser.get("/notifications")
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]
    finally:
        active_ws.close()


def test_sockets_of_a_suspended_account_close(app, live_server, person):
    from blog.auth.models import User
    from blog.auth.services import suspend_user
    from blog.extensions import db
    from tests.factories import make_user

    ws = connect(live_server, session_cookie(app, signed_in(app, person.email)))
    with app.app_context():
        moderator = make_user(role="moderator")
        suspend_user(db.session.get(User, person.id), actor=moderator, reason="Spam")
        db.session.commit()

    elapsed, code = wait_closed(ws)

    assert elapsed < 5
    assert code == 1008


def _messages_until_closed(ws) -> tuple[list[str], int | None]:
    import simple_websocket

    messages: list[str] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        try:
            message = ws.receive(timeout=0.1)
        except simple_websocket.ConnectionClosed as closed:
            return messages, closed.reason
        if message is not None:
            messages.append(str(message))
    raise AssertionError(f"the socket was still open after {DEADLINE_SECONDS} s")


def test_the_last_message_before_a_sessions_close_says_it_ended_and_why(app, live_server, person):
    """Not "live updates are unavailable; reconnecting…": the tab is signed out, for good."""
    from blog.auth.models import User
    from blog.auth.services import suspend_user
    from blog.extensions import db
    from tests.factories import make_user

    suspended = connect(live_server, session_cookie(app, signed_in(app, person.email)))
    other = new_author(app)
    browser = signed_in(app, other.email)
    signed_out = connect(live_server, session_cookie(app, browser))
    with app.app_context():
        moderator = make_user(role="moderator")
        suspend_user(db.session.get(User, person.id), actor=moderator, reason="Spam")
        db.session.commit()
    assert browser.post_form("/logout", {}).status_code in (302, 204)

    for ws, reason, text in (
        (suspended, "suspended", "Your account is suspended, so you are signed out."),
        (signed_out, "ended", "You are signed out: this session has ended"),
    ):
        messages, code = _messages_until_closed(ws)
        assert code == 1008
        last = messages[-1]
        assert 'id="live-status"' in last
        assert 'hx-swap-oob="true"' in last
        assert f'data-ended="{reason}"' in last
        assert 'role="alert"' in last
        assert text in last
        assert '<a href="/login">Sign in</a>' in last
        assert "reconnecting" not in last
        assert " hidden" not in last  # shown (static/js/chat.js reads " hidden" as "live is ok")


def test_redis_down_sends_the_degraded_notice_and_recovery_clears_it(app, live_server, cookie):
    ws = connect(live_server, cookie)
    hub = get_hub(app)
    try:
        # What the listener does when its connection drops, then comes back.
        hub._set_subscribed(False)
        notice = receive_matching(ws, 'id="live-status"')
        assert "unavailable" in notice
        assert " hidden" not in notice
        hub._set_subscribed(True)
        assert " hidden" in receive_matching(ws, 'id="live-status"')
    finally:
        ws.close()


def test_the_listener_reconnects_after_its_connection_is_killed(app, live_server, cookie, person):
    from blog.core.redis import get_redis

    ws = connect(live_server, cookie)
    try:
        with app.app_context():
            redis = get_redis()
            # Kill the listener's pub/sub connection from the server side, as a restart would.
            for client in redis.client_list(_type="pubsub"):
                redis.client_kill_filter(_id=client["id"])
            deadline = time.monotonic() + DEADLINE_SECONDS
            delivered = False
            while time.monotonic() < deadline and not delivered:
                publish_to_user(person.id, f'<span id="probe">{uuid.uuid4()}</span>')
                try:
                    receive_matching(ws, "probe", timeout=0.5)
                    delivered = True
                except AssertionError:
                    continue
        assert delivered
    finally:
        ws.close()


def test_a_plain_get_of_ws_is_not_a_page(client):
    assert client.get("/ws").status_code in (400, 403)


def test_pages_still_render_the_socket_element_only_for_signed_in_users(app, client, person):
    assert 'ws-connect="/ws"' not in client.get("/").get_data(as_text=True)
    page = signed_in(app, person.email).get("/").get_data(as_text=True)
    assert 'hx-ext="ws,live-targets"' in page
    assert 'ws-connect="/ws"' in page
    assert "htmx-ext-ws.min.js" in page


def test_server_options_limit_messages_and_ping(app):
    options = app.config["SOCK_SERVER_OPTIONS"]
    assert options["max_message_size"] < 1024 * 1024
    assert 10 <= options["ping_interval"] <= 30


@pytest.mark.usefixtures("smtp_server")
def test_a_notification_reaches_the_open_tab_after_commit_and_never_before(
    app, live_server, cookie, person, run_jobs
):
    from blog.extensions import db
    from blog.notifications import services
    from blog.outbox.events import emit
    from tests.posts.helpers import new_post

    commenter = new_author(app)
    post = new_post(app, person)
    ws = connect(live_server, cookie)
    try:
        with app.app_context():
            services.notify_users(
                [person.id],
                services.Notice(kind="mention", title="Rolled back", message="never"),
                event_id=uuid.uuid4(),
            )
            db.session.rollback()

        with app.app_context():
            emit(
                "comment.created",
                aggregate_type="post",
                aggregate_id=post.id,
                data={"post_id": str(post.id), "author_id": str(commenter.id), "excerpt": "Hi"},
            )
            db.session.commit()
        run_jobs()

        # The first live update on the socket is the committed one: had the rolled-back
        # notice gone out, it would have come first.
        message = receive_matching(ws, "notification-badge")
        assert "Rolled back" not in message
        assert 'data-count="1"' in message
        assert 'class="toast"' in message
        assert f"commented on “{post.title}”" in message
        assert 'hx-swap-oob="beforeend"' in message
    finally:
        ws.close()


def test_marking_all_read_in_one_tab_clears_the_badge_in_another(app, live_server, person):
    from blog.extensions import db
    from blog.notifications import services
    from tests.posts.helpers import htmx_client

    with app.app_context():
        for i in range(2):
            services.notify_users(
                [person.id],
                services.Notice(kind="mention", title=f"N{i}", message="m"),
                event_id=uuid.uuid4(),
            )
        db.session.commit()
    tab = htmx_client(app, person.email)
    other_tab = connect(live_server, session_cookie(app, signed_in(app, person.email)))
    try:
        response = tab.post_form("/notifications/read-all", {}, csrf_from="/notifications")
        assert response.status_code == 200

        message = receive_matching(other_tab, "notification-badge")
        assert 'data-count="0" hidden' in message
        assert "toast" not in message
    finally:
        other_tab.close()


def test_events_relayed_together_reach_the_tab_as_one_badge_with_a_toast_each(
    app, live_server, cookie, person, run_jobs
):
    """One relay batch is one handler job and one transaction: the person's badge is counted
    and sent once, carrying a toast for each new notification, oldest first."""
    from blog.extensions import db
    from blog.outbox.events import emit
    from tests.posts.helpers import new_post

    commenter = new_author(app)
    post = new_post(app, person)
    ws = connect(live_server, cookie)
    try:
        with app.app_context():
            for excerpt in ("First remark", "Second remark"):
                emit(
                    "comment.created",
                    aggregate_type="post",
                    aggregate_id=post.id,
                    data={
                        "post_id": str(post.id),
                        "author_id": str(commenter.id),
                        "excerpt": excerpt,
                    },
                )
            db.session.commit()
        run_jobs()

        message = receive_matching(ws, "notification-badge")
        assert 'data-count="2"' in message
        assert message.count('class="toast"') == 2
        assert message.index("First remark") < message.index("Second remark")
        with pytest.raises(AssertionError):  # and nothing more: not a second badge
            receive_matching(ws, "notification-badge", timeout=1.0)
    finally:
        ws.close()


def test_badges_go_only_to_people_present_and_a_new_tab_starts_with_its_badge(
    app, live_server, cookie, person
):
    from blog.extensions import db
    from blog.notifications import services

    away = new_author(app)
    with app.app_context():
        for i in range(2):
            services.notify_users(
                [person.id, away.id],
                services.Notice(kind="mention", title=f"Before the tab {i}", message="m"),
                event_id=uuid.uuid4(),
            )
        db.session.commit()
        # Nobody has a tab open: no count is read, nothing is published.
        assert services.push_badges([person.id, away.id]) == 0

    ws = connect_raw(live_server, cookie)
    try:
        first = ws.receive(timeout=DEADLINE_SECONDS)
        # The first message: the live status and the badge as it is after the socket's
        # presence was recorded (what the page rendered may be older by then).
        assert 'id="live-status"' in first
        assert 'id="notification-badge"' in first
        assert 'data-count="2"' in first
        with app.app_context():
            # Now present: only the person with the tab gets a badge.
            assert services.push_badges([person.id, away.id]) == 1
        assert 'data-count="2"' in receive_matching(ws, "notification-badge")
    finally:
        ws.close()
