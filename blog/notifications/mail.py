"""What a notification email says, and its signed one-click unsubscribe link (RFC 8058).

The link carries the user and the kind, signed with the app's secret (itsdangerous, which
Flask already uses for its cookies); it never expires, as mail clients keep List-Unsubscribe
links. Opening it shows a confirmation page with a button (a GET must change nothing: mail
scanners fetch links); the mail client's one-click POST unsubscribes at once.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from blog.auth.models import User
from blog.core.mail import send_mail
from blog.notifications.models import DIGEST_KIND, Notification
from blog.notifications.services import KIND_LABELS, MAIL_LABELS

if TYPE_CHECKING:
    from blog.notifications.digest import DigestContent

_SALT = "blog.notifications.unsubscribe"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def unsubscribe_token(user_id: uuid.UUID, kind: str) -> str:
    return _serializer().dumps({"u": str(user_id), "k": kind})


def read_unsubscribe_token(token: str) -> tuple[uuid.UUID, str] | None:
    """The (user, kind) a token was made for, or None if it is forged or malformed."""
    try:
        data = _serializer().loads(token)
        user_id, kind = uuid.UUID(data["u"]), str(data["k"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    return (user_id, kind) if kind in MAIL_LABELS else None


def site_url(endpoint: str, **values: Any) -> str:
    """An absolute URL on the configured site (SITE_URL may carry a path prefix)."""
    site = urlsplit(current_app.config["SITE_URL"])
    adapter = current_app.url_map.bind(
        site.netloc, script_name=site.path or "/", url_scheme=site.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def build_email(row: Notification, user: User) -> tuple[str, str, str, dict[str, str]]:
    """Subject, text, HTML and extra headers of a notification email."""
    from blog.notifications.jobs import render_mail

    if row.kind == DIGEST_KIND:
        from blog.notifications.digest import DigestContent, digest_items

        return build_digest(row, user, digest_items([row]).get(row.id, DigestContent()))

    site = current_app.config["SITE_URL"]
    link = f"{site}{row.link}" if row.link and row.link.startswith("/") else None
    unsubscribe = site_url("notifications.unsubscribe", token=unsubscribe_token(user.id, row.kind))
    text, html = render_mail(
        "notification",
        user=user,
        notification=row,
        link=link,
        kind_label=KIND_LABELS[row.kind],
        unsubscribe=unsubscribe,
        preferences=site_url("notifications.preferences"),
        required=row.kind == "account_suspended",
    )
    headers: dict[str, str] = {}
    if row.kind != "account_suspended":
        headers = {
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    return f"{row.title} · Blog", text, html, headers


def _unsubscribe_headers(unsubscribe: str) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def build_digest(
    row: Notification, user: User, content: DigestContent
) -> tuple[str, str, str, dict[str, str]]:
    """Subject, text, HTML and headers of a daily digest listing `content`'s items."""
    from blog.notifications.digest import site_link
    from blog.notifications.jobs import render_mail

    unsubscribe = site_url("notifications.unsubscribe", token=unsubscribe_token(user.id, row.kind))
    text, html = render_mail(
        "digest",
        user=user,
        items=[(item, site_link(item.link)) for item in content.items],
        more=max(0, content.total - len(content.items)),
        inbox=site_url("notifications.index"),
        unsubscribe=unsubscribe,
        preferences=site_url("notifications.preferences"),
    )
    return f"{row.title} · Blog", text, html, _unsubscribe_headers(unsubscribe)


def send_digest(row: Notification, user: User, content: DigestContent) -> None:
    """Send one digest now. Raises on an SMTP failure."""
    subject, text, html, headers = build_digest(row, user, content)
    send_mail(to=user.email, subject=subject, text=text, html=html, headers=headers)
