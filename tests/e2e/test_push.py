"""Web push in a real browser: the settings page registers the service worker at the site's
root, the button subscribes this browser and posts the subscription (with CSRF) to the server,
a notification then reaches the push service on loopback, and the service worker shows a push
it is handed.

Headless Chromium here cannot subscribe for real: PushManager.subscribe() rejects with
"Registration failed - permission denied" even with the permission granted (and a headed one
would need Google's FCM, which this machine cannot reach); the last test checks the page says
so. For the others the one browser call that talks to a push service is replaced in the page
by one that returns the subscription of the tests' loopback push service (with keys the test
holds, so the payload can be decrypted). Everything else is the browser's
own: the permission prompt (granted by the context), the service worker registration, the
page's JavaScript and its POST, and the worker's handling of a push event, which DevTools
delivers (ServiceWorker.deliverPushMessage) as a push service would.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from blog.extensions import db
from blog.notifications import services
from blog.notifications.models import PushSubscription
from tests.e2e.helpers import sign_out
from tests.factories import DEFAULT_PASSWORD
from tests.notifications.push_service import PushService


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService().start()
    yield service
    service.stop()


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect(page.locator("#live")).to_have_count(1)


def _fake_push_manager(page: Page, subscription: dict) -> None:
    """PushManager.subscribe/getSubscription answer with the loopback service's subscription."""
    page.add_init_script(
        "window.__pushSubscription = " + json.dumps(subscription) + ";\n"
        """
        (() => {
          const data = window.__pushSubscription;
          // Kept across page loads, as a browser keeps its subscription.
          const stored = () => localStorage.getItem("fakePushSubscribed") === "1";
          const make = () => ({
            endpoint: data.endpoint,
            toJSON: () => data,
            unsubscribe: async () => {
              localStorage.removeItem("fakePushSubscribed");
              return true;
            },
          });
          PushManager.prototype.subscribe = async function (options) {
            window.__pushOptions = {
              userVisibleOnly: options.userVisibleOnly,
              keyLength: new Uint8Array(options.applicationServerKey).length,
            };
            localStorage.setItem("fakePushSubscribed", "1");
            return make();
          };
          PushManager.prototype.getSubscription = async function () {
            return stored() ? make() : null;
          };
        })();
        """
    )


def test_subscribing_in_the_browser_then_a_notification_reaches_the_push_service(
    app: Flask, context: BrowserContext, live_server: str, push_service: PushService, run_jobs
) -> None:
    from tests.posts.helpers import new_author

    person = new_author(app)
    endpoint, keys = push_service.new_endpoint()
    context.grant_permissions(["notifications"], origin=live_server)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _fake_push_manager(page, keys.subscription_json(endpoint))
    _sign_in(page, live_server, person.email)

    page.goto(f"{live_server}/notifications/preferences")
    status = page.locator("#push-status")
    expect(status).to_have_text("Push is off in this browser.")
    scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
    assert scope == f"{live_server}/"
    page.get_by_role("button", name="Turn on push in this browser").click()

    expect(status).to_have_text("Push is on in this browser.")
    expect(page.get_by_role("button", name="Turn off push in this browser")).to_be_visible()
    options = page.evaluate("window.__pushOptions")
    assert options == {"userVisibleOnly": True, "keyLength": 65}  # the VAPID public key
    with app.app_context():
        [sub] = db.session.scalars(select(PushSubscription)).all()
        assert (sub.user_id, sub.endpoint, sub.p256dh) == (person.id, endpoint, keys.p256dh)
        db.session.remove()

    with app.app_context():
        services.notify_users(
            [person.id],
            services.Notice(kind="mention", title="Ada mentioned you", message="Hi!", link="/"),
            event_id=uuid.uuid4(),
        )
        db.session.commit()
    run_jobs()
    [received] = push_service.for_endpoint(endpoint)
    assert received.problem is None
    assert received.payload is not None
    assert received.payload["title"] == "Ada mentioned you"

    page.get_by_role("button", name="Turn off push in this browser").click()
    expect(status).to_have_text("Push is off in this browser.")
    with app.app_context():
        assert db.session.scalars(select(PushSubscription)).all() == []
        db.session.remove()
    assert errors == []


def test_signing_out_stops_push_in_this_browser(
    app: Flask, context: BrowserContext, live_server: str, push_service: PushService
) -> None:
    from tests.posts.helpers import new_author

    person = new_author(app)
    endpoint, keys = push_service.new_endpoint()
    context.grant_permissions(["notifications"], origin=live_server)
    page = context.new_page()
    _fake_push_manager(page, keys.subscription_json(endpoint))
    _sign_in(page, live_server, person.email)
    page.goto(f"{live_server}/notifications/preferences")
    page.get_by_role("button", name="Turn on push in this browser").click()
    expect(page.locator("#push-status")).to_have_text("Push is on in this browser.")
    page.goto(f"{live_server}/")  # any page: the sign-out button is in the navigation

    sign_out(page)

    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    assert page.evaluate("localStorage.getItem('fakePushSubscribed')") is None
    with app.app_context():
        assert db.session.scalars(select(PushSubscription)).all() == []
        db.session.remove()


def test_the_service_worker_shows_a_push_it_receives(
    app: Flask, context: BrowserContext, live_server: str
) -> None:
    from tests.posts.helpers import new_author

    person = new_author(app)
    context.grant_permissions(["notifications"], origin=live_server)
    page = context.new_page()
    _sign_in(page, live_server, person.email)
    cdp = context.new_cdp_session(page)
    registrations: list[dict] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    page.goto(f"{live_server}/notifications/preferences")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    # The registration reaches DevTools as an event: wait for it (generously, never a fixed sleep).
    deadline = time.monotonic() + 30
    while not any(r["scopeURL"] == f"{live_server}/" for r in registrations):
        assert time.monotonic() < deadline, f"no service worker registration: {registrations}"
        page.wait_for_timeout(100)
    [registration] = [r for r in registrations if r["scopeURL"] == f"{live_server}/"][:1]

    data = {
        "title": "Grace commented",
        "body": "Nice post",
        "link": f"{live_server}/posts/x",
        "tag": "t1",
    }
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": live_server,
            "registrationId": registration["registrationId"],
            "data": json.dumps(data),
        },
    )

    # Poll inside the page until the worker has shown it (a wait_for_function predicate that
    # returns a promise counts as true at once: the answer was read before it had arrived).
    shown = page.evaluate(
        """async () => {
             const deadline = Date.now() + 30000;
             const registration = await navigator.serviceWorker.ready;
             while (Date.now() < deadline) {
               const list = await registration.getNotifications();
               if (list.length > 0) {
                 return list.map((n) => [n.title, n.body, n.tag, n.data.link]);
               }
               await new Promise((resolve) => setTimeout(resolve, 100));
             }
             return null;
           }"""
    )
    assert shown == [["Grace commented", "Nice post", "t1", f"{live_server}/posts/x"]]


def test_without_a_push_service_the_page_says_why_push_could_not_be_turned_on(
    app: Flask, context: BrowserContext, live_server: str
) -> None:
    from tests.posts.helpers import new_author

    person = new_author(app)
    context.grant_permissions(["notifications"], origin=live_server)
    page = context.new_page()
    _sign_in(page, live_server, person.email)
    page.goto(f"{live_server}/notifications/preferences")
    expect(page.locator("#push-status")).to_have_text("Push is off in this browser.")

    page.get_by_role("button", name="Turn on push in this browser").click()  # the real API

    expect(page.locator("#push-status")).to_contain_text(
        "Push could not be turned on: ", timeout=15000
    )
    expect(page.get_by_role("button", name="Turn on push in this browser")).to_be_enabled()
    with app.app_context():
        assert db.session.scalars(select(PushSubscription)).all() == []
        db.session.remove()
