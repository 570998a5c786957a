"""Web push: browsers' subscriptions, and sending one encrypted message to one of them.

A page subscribes through the Push API with our VAPID public key and posts the subscription
JSON here; a `push` notification row is then delivered by a job (blog.notifications.jobs) that
encrypts the payload for each of the user's browsers (RFC 8291, aes128gcm) and POSTs it to the
browser's push service with a VAPID signature (RFC 8292), through pywebpush.

The endpoint is user input that our workers will POST to, so it is checked against an
allow-list of push services (https only, default port) when it is stored and again before each
send, and redirects are never followed. Plain http to 127.0.0.1/localhost is allowed only in
the testing and development configurations (the tests run a push service on loopback).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from sqlalchemy import delete, func, select

from blog.core.db import utcnow
from blog.core.vapid import b64url, b64url_decode
from blog.extensions import db
from blog.notifications.models import ENDPOINT_MAX, LINK_MAX, Notification, PushSubscription

MAX_PER_USER = 20  # browsers per person; the oldest beyond this is dropped
SEND_TIMEOUT = 10  # seconds, connect and read
TTL_SECONDS = 24 * 3600  # a push service keeps a message this long for an offline browser
BODY_MAX = 1000  # characters of the message in a payload (push services take ~4 KB)


class InvalidSubscription(ValueError):
    """The posted subscription cannot be used; the message says why (shown to the person)."""


@dataclass(frozen=True)
class SubscriptionData:
    endpoint: str
    p256dh: str
    auth: str


def push_enabled() -> bool:
    return bool(current_app.config.get("VAPID_PRIVATE_KEY"))


def check_endpoint(endpoint: str) -> None:
    """Raise InvalidSubscription unless we may POST to this endpoint (the SSRF guard)."""
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > ENDPOINT_MAX:
        raise InvalidSubscription("The subscription has no usable endpoint.")
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        raise InvalidSubscription("The subscription's endpoint is not a URL.") from None
    host = (parts.hostname or "").lower()
    if parts.username or parts.password or not host or any(c.isspace() for c in endpoint):
        raise InvalidSubscription("The subscription's endpoint is not a URL.")
    if (
        current_app.config.get("PUSH_ALLOW_LOOPBACK")
        and parts.scheme == "http"
        and host in ("127.0.0.1", "localhost")
    ):
        return
    allowed = current_app.config.get("PUSH_ALLOWED_HOSTS", ())
    if (
        parts.scheme != "https"
        or port not in (None, 443)
        or not any(host == h or host.endswith("." + h) for h in allowed)
    ):
        raise InvalidSubscription("This browser's push service is not one we deliver to.")


def parse_subscription(data: Any) -> SubscriptionData:
    """Check the JSON of a browser's PushSubscription ({endpoint, keys: {p256dh, auth}})."""
    if not isinstance(data, dict):
        raise InvalidSubscription("Send the subscription as a JSON object.")
    endpoint = data.get("endpoint")
    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise InvalidSubscription("The subscription has no keys.")
    check_endpoint(endpoint)  # type: ignore[arg-type]
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    try:
        point = b64url_decode(p256dh) if isinstance(p256dh, str) else b""
        secret = b64url_decode(auth) if isinstance(auth, str) else b""
    except ValueError:
        raise InvalidSubscription("The subscription's keys are not base64url.") from None
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        if len(point) != 65:
            raise ValueError
    except ValueError:
        raise InvalidSubscription("The subscription's p256dh is not a P-256 public key.") from None
    if len(secret) != 16:
        raise InvalidSubscription("The subscription's auth secret is not 16 bytes.")
    return SubscriptionData(endpoint=endpoint, p256dh=b64url(point), auth=b64url(secret))  # type: ignore[arg-type]


def save_subscription(
    user_id: uuid.UUID, sub: SubscriptionData, user_agent: str | None
) -> PushSubscription:
    """Store (or refresh) a browser's subscription for this user.

    The same endpoint posted by another signed-in user moves to them: it is one browser, now
    used by someone else, and the previous person must stop getting pushes there.
    """
    from sqlalchemy.dialects.postgresql import insert

    stmt = insert(PushSubscription).values(
        user_id=user_id,
        endpoint=sub.endpoint,
        p256dh=sub.p256dh,
        auth=sub.auth,
        user_agent=(user_agent or "")[:300] or None,
        created_at=utcnow(),
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=["endpoint"],
        set_={
            "user_id": stmt.excluded.user_id,
            "p256dh": stmt.excluded.p256dh,
            "auth": stmt.excluded.auth,
            "user_agent": stmt.excluded.user_agent,
            "last_error": None,
        },
    ).returning(PushSubscription.id)
    sub_id = db.session.execute(upsert).scalar_one()
    # Keep the newest MAX_PER_USER browsers: stale ones would otherwise pile up.
    keep = (
        select(PushSubscription.id)
        .where(PushSubscription.user_id == user_id)
        .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())
        .limit(MAX_PER_USER)
    )
    db.session.execute(
        delete(PushSubscription).where(
            PushSubscription.user_id == user_id, PushSubscription.id.not_in(keep)
        )
    )
    row = db.session.get(PushSubscription, sub_id, populate_existing=True)
    assert row is not None
    return row


def delete_subscription(user_id: uuid.UUID, endpoint: str) -> bool:
    """Forget this user's subscription at `endpoint` (idempotent); True if one was deleted."""
    result = db.session.execute(
        delete(PushSubscription).where(
            PushSubscription.user_id == user_id, PushSubscription.endpoint == endpoint
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def subscription_count(user_id: uuid.UUID) -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(PushSubscription)
            .where(PushSubscription.user_id == user_id)
        )
        or 0
    )


def payload(row: Notification) -> str:
    """The JSON the service worker shows: title, body, an absolute link, a tag."""
    site = current_app.config["SITE_URL"]
    link = f"{site}{row.link}" if row.link and row.link.startswith("/") else f"{site}/"
    data = {
        "title": row.title,
        "body": row.message[:BODY_MAX],
        "link": link[: LINK_MAX + len(site)],
        "tag": str(row.id),
        "kind": row.kind,
    }
    return json.dumps(data, ensure_ascii=False)


class _NoRedirects(requests.Session):
    """A push service answers; it does not send us elsewhere (a redirect could point the
    worker at an internal address the allow-list never saw)."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().request(*args, **kwargs)


@dataclass(frozen=True)
class SendResult:
    status: int | None  # the push service's HTTP status; None when it could not be reached
    error: str | None  # None on success


def send_push(sub: PushSubscription, data: str) -> SendResult:
    """Encrypt `data` for this browser and POST it to its push service. Never raises."""
    from pywebpush import WebPushException, webpush

    try:
        check_endpoint(sub.endpoint)
    except InvalidSubscription as exc:
        return SendResult(None, f"refused: {exc}")
    session = _NoRedirects()
    try:
        response = webpush(
            subscription_info={
                "endpoint": sub.endpoint,
                "keys": {"p256dh": sub.p256dh, "auth": sub.auth},
            },
            data=data,
            vapid_private_key=current_app.config["VAPID_PRIVATE_KEY"],
            # A fresh dict each time: pywebpush writes aud and exp into it.
            vapid_claims={"sub": current_app.config["VAPID_SUBJECT"]},
            content_encoding="aes128gcm",
            ttl=TTL_SECONDS,
            timeout=SEND_TIMEOUT,
            requests_session=session,
        )
    except WebPushException as exc:
        status = exc.status_code
        reason = getattr(exc.response, "reason", "") if exc.response is not None else ""
        text = getattr(exc.response, "text", "") if exc.response is not None else ""
        return SendResult(status, f"HTTP {status} {reason}: {text[:200]}".strip())
    except requests.RequestException as exc:
        return SendResult(None, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        session.close()
    status = getattr(response, "status_code", None)
    return SendResult(status, None)
