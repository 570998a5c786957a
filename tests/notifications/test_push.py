"""Web push end to end: a browser subscribes through the real endpoint, a real comment goes
through the outbox and the handler, and the delivery job's POST reaches a push service on
loopback that checks the VAPID signature and decrypts the payload with the browser's keys."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from blog.extensions import db
from blog.notifications import services
from blog.notifications.models import Notification, PushSubscription
from tests.conftest import Client
from tests.notifications.push_service import BrowserKeys, PushService
from tests.posts.helpers import new_author, new_post, signed_in


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService().start()
    yield service
    service.stop()


def _subscribe(browser: Client, subscription: Any) -> Any:
    token = browser.csrf("/notifications/preferences")
    return browser.post(
        "/notifications/push/subscribe",
        json=subscription,
        headers={"X-CSRFToken": token, "User-Agent": "TestBrowser/1.0"},
    )


def _subscriptions(app, user_id: uuid.UUID | None = None) -> list[PushSubscription]:
    with app.app_context():
        stmt = select(PushSubscription).order_by(PushSubscription.created_at)
        if user_id is not None:
            stmt = stmt.where(PushSubscription.user_id == user_id)
        rows = list(db.session.scalars(stmt))
        db.session.expunge_all()
        db.session.remove()
        return rows


def _push_rows(app, user_id: uuid.UUID) -> list[Notification]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(Notification).where(
                    Notification.user_id == user_id, Notification.type == "push"
                )
            )
        )
        db.session.expunge_all()
        db.session.remove()
        return rows


def _comment(app, author, commenter, text: str = "Great read, thanks!") -> Any:
    post = new_post(app, author)
    bob = signed_in(app, commenter.email)
    response = bob.post_form(
        f"/posts/{post.id}/comments", {"content": text}, csrf_from=f"/posts/{post.slug}"
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:300]
    return post


def _notify(app, user_id: uuid.UUID, kind: str = "mention") -> None:
    with app.app_context():
        services.notify_users(
            [user_id],
            services.Notice(kind=kind, title="Hello", message="A message", link="/"),
            event_id=uuid.uuid4(),
        )
        db.session.commit()


# --------------------------------------------------------------------------- delivery


def test_a_comment_is_pushed_to_the_authors_browser_signed_and_encrypted_for_it(
    app, run_jobs, push_service
):
    author, commenter = new_author(app), new_author(app)
    endpoint, keys = push_service.new_endpoint()
    alice = signed_in(app, author.email)
    subscribed = _subscribe(alice, keys.subscription_json(endpoint))
    assert subscribed.status_code == 201, subscribed.get_data(as_text=True)
    assert subscribed.get_json() == {"ok": True, "devices": 1}

    post = _comment(app, author, commenter, "Great read, thanks!")
    run_jobs()

    [received] = push_service.for_endpoint(endpoint)
    assert received.problem is None
    assert received.status == 201
    # Signed by the site's VAPID key, for this push service's origin.
    assert received.vapid_key == app.config["VAPID_PUBLIC_KEY"]
    assert received.claims is not None
    assert received.claims["aud"] == push_service.origin
    assert received.claims["sub"] == app.config["VAPID_SUBJECT"]
    # Decrypted with the browser's private key and auth secret: what the notification shows.
    payload = received.payload
    assert payload is not None
    assert payload["title"] == f"{commenter.user_name} commented on “{post.title}”"
    assert payload["body"] == "Great read, thanks!"
    assert payload["link"].startswith(f"{app.config['SITE_URL']}/posts/{post.slug}#comment-")
    assert payload["kind"] == "comment_on_post"
    [row] = _push_rows(app, author.id)
    assert payload["tag"] == str(row.id)
    assert row.status == "sent"
    assert row.sent_at is not None
    assert row.attempts == 1
    assert row.last_error is None
    [sub] = _subscriptions(app, author.id)
    assert sub.last_success_at is not None
    assert sub.user_agent == "TestBrowser/1.0"
    # The commenter subscribed nothing: no push row for them, and no other POST.
    assert _push_rows(app, commenter.id) == []
    assert len(push_service.received) == 1


def test_every_browser_of_the_user_gets_it_and_the_push_preference_is_honoured(
    app, run_jobs, push_service
):
    me = new_author(app)
    browser = signed_in(app, me.email)
    laptop, laptop_keys = push_service.new_endpoint()
    phone, phone_keys = push_service.new_endpoint()
    assert _subscribe(browser, laptop_keys.subscription_json(laptop)).status_code == 201
    assert _subscribe(browser, phone_keys.subscription_json(phone)).status_code == 201

    _notify(app, me.id, "mention")
    run_jobs()
    assert [r.payload["title"] for r in push_service.received if r.payload] == ["Hello"] * 2
    assert {r.token for r in push_service.received} == {laptop[-16:], phone[-16:]}

    # Push switched off for mentions on the preferences page: no row, no POST.
    response = browser.post_form(
        "/notifications/preferences",
        {"mention__in_app": "y", "mention__email": "y", "comment_on_post__push": "y"},
        csrf_from="/notifications/preferences",
    )
    assert response.status_code == 302
    with app.app_context():
        prefs = services.preferences(me.id)
    assert prefs[("mention", "push")] is False
    assert prefs[("comment_on_post", "push")] is True
    _notify(app, me.id, "mention")
    run_jobs()
    assert len(push_service.received) == 2
    assert len(_push_rows(app, me.id)) == 1


def test_a_410_deletes_the_subscription_and_the_row_fails_with_the_reason(
    app, run_jobs, push_service
):
    me = new_author(app)
    gone, keys = push_service.new_endpoint(410)
    assert _subscribe(signed_in(app, me.email), keys.subscription_json(gone)).status_code == 201

    _notify(app, me.id)
    run_jobs()

    [received] = push_service.for_endpoint(gone)
    assert received.status == 410
    assert received.payload is not None  # it was a well-formed push; the browser is gone
    assert _subscriptions(app, me.id) == []
    [row] = _push_rows(app, me.id)
    assert row.status == "failed"
    assert "subscription gone (410)" in (row.last_error or "")
    # Nothing left to push to: the next notification makes no push row at all.
    _notify(app, me.id)
    run_jobs()
    assert len(_push_rows(app, me.id)) == 1
    assert len(push_service.received) == 1


def test_a_404_from_one_browser_removes_it_and_the_other_still_gets_it(app, run_jobs, push_service):
    me = new_author(app)
    browser = signed_in(app, me.email)
    gone, gone_keys = push_service.new_endpoint(404)
    alive, alive_keys = push_service.new_endpoint()
    _subscribe(browser, gone_keys.subscription_json(gone))
    _subscribe(browser, alive_keys.subscription_json(alive))

    _notify(app, me.id)
    run_jobs()

    assert [s.endpoint for s in _subscriptions(app, me.id)] == [alive]
    [row] = _push_rows(app, me.id)
    assert row.status == "sent"
    assert len(push_service.for_endpoint(alive)) == 1


def test_a_500_is_retried_then_fails_with_the_error_kept(app, run_jobs, push_service):
    from blog.notifications.jobs import MAX_ATTEMPTS, deliver_notification_push

    me = new_author(app)
    broken, keys = push_service.new_endpoint(500)
    _subscribe(signed_in(app, me.email), keys.subscription_json(broken))

    _notify(app, me.id)
    run_jobs(allow_failures=True)  # the first attempt raises: RQ schedules a retry
    [row] = _push_rows(app, me.id)
    assert row.status == "pending"
    assert row.attempts == 1
    assert "HTTP 500" in (row.last_error or "")
    with app.app_context():
        from rq.job import Job

        from blog.jobs.queues import get_queue

        job = Job.fetch(f"notification-push-{row.id}", connection=get_queue("mail").connection)
        assert job.get_status() == "scheduled"  # RQ's retry, with its interval
        assert job.retries_left == MAX_ATTEMPTS - 2

    with app.app_context():
        for _ in range(MAX_ATTEMPTS - 1):  # the retries RQ would make
            with contextlib.suppress(Exception):
                deliver_notification_push(str(row.id))
            db.session.remove()
    [row] = _push_rows(app, me.id)
    assert row.status == "failed"
    assert row.attempts == MAX_ATTEMPTS
    assert "HTTP 500" in (row.last_error or "")
    assert len(push_service.for_endpoint(broken)) == MAX_ATTEMPTS
    [sub] = _subscriptions(app, me.id)  # a failing service is not a gone subscription
    assert sub.last_failure_at is not None
    assert "HTTP 500" in (sub.last_error or "")
    with app.app_context():
        assert deliver_notification_push(str(row.id)) == "skipped"


def test_a_retry_sends_only_to_the_browsers_that_failed(app, run_jobs, push_service):
    me = new_author(app)
    browser = signed_in(app, me.email)
    flaky, flaky_keys = push_service.new_endpoint(503, 201)
    fine, fine_keys = push_service.new_endpoint()
    _subscribe(browser, flaky_keys.subscription_json(flaky))
    _subscribe(browser, fine_keys.subscription_json(fine))

    _notify(app, me.id)
    run_jobs(allow_failures=True)
    [row] = _push_rows(app, me.id)
    assert row.status == "pending"
    with app.app_context():
        from rq.job import Job

        from blog.jobs.queues import get_queue
        from blog.jobs.worker import make_worker

        queue = get_queue("mail")
        job = Job.fetch(f"notification-push-{row.id}", connection=queue.connection)
        queue.enqueue_job(job)  # what the scheduler does when the interval is over
        make_worker(app, [queue], in_process=True).work(burst=True)

    [row] = _push_rows(app, me.id)
    assert row.status == "sent"
    assert row.attempts == 2
    assert [r.status for r in push_service.for_endpoint(flaky)] == [503, 201]
    assert [r.status for r in push_service.for_endpoint(fine)] == [201]  # not pushed twice


# --------------------------------------------------------------------------- subscribing


def test_subscribing_needs_a_session_and_csrf(app, client, push_service):
    me = new_author(app)
    endpoint, keys = push_service.new_endpoint()
    anonymous = client.post("/notifications/push/subscribe", json=keys.subscription_json(endpoint))
    assert anonymous.status_code in (302, 400)
    browser = signed_in(app, me.email)
    no_token = browser.post("/notifications/push/subscribe", json=keys.subscription_json(endpoint))
    assert no_token.status_code == 400
    assert _subscriptions(app) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(endpoint="http://10.0.0.5/push/x"), "not one we deliver to"),
        (lambda s: s.update(endpoint="https://169.254.169.254/latest"), "not one we deliver to"),
        (lambda s: s.update(endpoint="https://fcm.googleapis.com.evil.example/x"), "not one"),
        (lambda s: s.update(endpoint="https://fcm.googleapis.com:8443/x"), "not one"),
        (lambda s: s.update(endpoint="http://fcm.googleapis.com/x"), "not one"),
        (lambda s: s.update(endpoint="https://user:pw@fcm.googleapis.com/x"), "not a URL"),
        (lambda s: s.update(endpoint="ftp://127.0.0.1/x"), "not one"),
        (lambda s: s.update(endpoint=None), "no usable endpoint"),
        (lambda s: s["keys"].update(p256dh="AAAA"), "not a P-256 public key"),
        (lambda s: s["keys"].update(p256dh="B" + "A" * 86), "not a P-256 public key"),
        (lambda s: s["keys"].update(auth="c2hvcnQ"), "not 16 bytes"),
        (lambda s: s["keys"].update(auth="!!!"), "not base64url"),
        (lambda s: s.pop("keys"), "has no keys"),
    ],
)
def test_a_bad_subscription_is_refused_with_a_reason(app, push_service, change, message):
    me = new_author(app)
    endpoint, keys = push_service.new_endpoint()
    subscription = keys.subscription_json(endpoint)
    change(subscription)

    response = _subscribe(signed_in(app, me.email), subscription)

    assert response.status_code == 422
    assert message in response.get_json()["error"]
    assert _subscriptions(app) == []


def test_known_push_services_are_accepted_in_production_config(app, make_app):
    from blog.notifications.push import InvalidSubscription, check_endpoint

    production_like = make_app(BLOG_PUSH_ALLOWED_HOSTS="fcm.googleapis.com,push.apple.com")
    production_like.config["PUSH_ALLOW_LOOPBACK"] = False
    with production_like.app_context():
        check_endpoint("https://fcm.googleapis.com/fcm/send/abc")
        check_endpoint("https://web.push.apple.com/QGx")
        for bad in (
            "http://127.0.0.1:8080/push/x",  # loopback only in testing and development
            "https://updates.push.services.mozilla.com/wpush/v2/x",  # not in this list
            "https://evilpush.apple.com.example/x",
        ):
            with pytest.raises(InvalidSubscription):
                check_endpoint(bad)


def test_a_browser_posted_again_by_another_user_moves_to_them(app, push_service):
    first, second = new_author(app), new_author(app)
    endpoint, keys = push_service.new_endpoint()
    assert (
        _subscribe(signed_in(app, first.email), keys.subscription_json(endpoint)).status_code == 201
    )
    again = _subscribe(signed_in(app, first.email), keys.subscription_json(endpoint))
    assert again.get_json()["devices"] == 1  # the same browser again: still one

    assert (
        _subscribe(signed_in(app, second.email), keys.subscription_json(endpoint)).status_code
        == 201
    )

    [sub] = _subscriptions(app)
    assert sub.user_id == second.id


def test_unsubscribe_forgets_only_your_own_browser(app, push_service):
    me, other = new_author(app), new_author(app)
    mine, my_keys = push_service.new_endpoint()
    theirs, their_keys = push_service.new_endpoint()
    browser = signed_in(app, me.email)
    _subscribe(browser, my_keys.subscription_json(mine))
    _subscribe(signed_in(app, other.email), their_keys.subscription_json(theirs))
    token = browser.csrf("/notifications/preferences")

    attempt = browser.post(
        "/notifications/push/unsubscribe", json={"endpoint": theirs}, headers={"X-CSRFToken": token}
    )
    assert attempt.get_json()["removed"] is False
    done = browser.post(
        "/notifications/push/unsubscribe", json={"endpoint": mine}, headers={"X-CSRFToken": token}
    )
    assert done.status_code == 200
    assert done.get_json() == {"ok": True, "removed": True, "devices": 0}
    assert [s.endpoint for s in _subscriptions(app)] == [theirs]
    bad = browser.post(
        "/notifications/push/unsubscribe", data="not json", headers={"X-CSRFToken": token}
    )
    assert bad.status_code == 422


def test_a_user_keeps_at_most_the_newest_browsers(app, push_service):
    from blog.notifications.push import MAX_PER_USER

    me = new_author(app)
    browser = signed_in(app, me.email)
    endpoints = []
    for _ in range(MAX_PER_USER + 2):
        endpoint, keys = push_service.new_endpoint()
        endpoints.append(endpoint)
        assert _subscribe(browser, keys.subscription_json(endpoint)).status_code == 201
    kept = {s.endpoint for s in _subscriptions(app, me.id)}
    assert kept == set(endpoints[2:])


def test_no_push_rows_when_push_is_not_configured(app, make_app, run_jobs, push_service):
    me = new_author(app)
    endpoint, keys = push_service.new_endpoint()
    _subscribe(signed_in(app, me.email), keys.subscription_json(endpoint))
    off = make_app()
    off.config["VAPID_PRIVATE_KEY"] = off.config["VAPID_PUBLIC_KEY"] = None

    _notify(off, me.id)
    page = signed_in(off, me.email).get("/notifications/preferences").get_data(as_text=True)

    assert _push_rows(app, me.id) == []
    assert "Push notifications are not set up on this site." in page
    refused = _subscribe(signed_in(off, me.email), keys.subscription_json(endpoint))
    assert refused.status_code == 404


# --------------------------------------------------------------------------- the page


def test_the_preferences_page_offers_push_per_kind_and_this_browser(app):
    me = new_author(app)
    page = signed_in(app, me.email).get("/notifications/preferences").get_data(as_text=True)

    assert '<th scope="col">Push</th>' in page
    assert '<input checked id="comment_on_post__push" name="comment_on_post__push"' in page
    # New posts by people you follow: off by default on push, as by email.
    assert '<input id="followed_author_posted__push" name="followed_author_posted__push"' in page
    assert f'data-vapid-key="{app.config["VAPID_PUBLIC_KEY"]}"' in page
    assert 'data-subscribe-url="/notifications/push/subscribe"' in page
    assert "/static/js/push.js" in page


def test_the_service_worker_is_served_from_the_root(client):
    response = client.get("/sw.js")

    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "no-cache"
    body = response.get_data(as_text=True)
    assert 'addEventListener("push"' in body
    assert "showNotification" in body
    assert "openWindow" in body


def test_the_test_push_service_refuses_what_it_cannot_verify_or_decrypt(app, push_service):
    """The checks above can fail: a payload for other keys, or an unsigned POST, is refused."""
    import requests
    from pywebpush import WebPushException, webpush

    endpoint, keys = push_service.new_endpoint()
    other = BrowserKeys()
    assert len(keys.p256dh) == 87  # what a browser sends: 65 bytes, base64url
    assert len(keys.auth) == 22  # 16 bytes
    with pytest.raises(WebPushException):
        webpush(
            other.subscription_json(endpoint),
            data='{"title": "x"}',
            vapid_private_key=app.config["VAPID_PRIVATE_KEY"],
            vapid_claims={"sub": "mailto:ops@example.com"},
        )
    unsigned = requests.post(endpoint, data=b"x", headers={"TTL": "0"}, timeout=5)
    assert unsigned.status_code == 400
    problems = [r.problem or "" for r in push_service.for_endpoint(endpoint)]
    assert problems[0].startswith(("ECEException", "InvalidTag"))
    assert "authorization scheme" in problems[1]
