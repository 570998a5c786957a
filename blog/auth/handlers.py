"""Account mail, sent by jobs after commit (see blog/outbox).

Each handler runs inside run_handler's transaction, which also holds the (event, handler)
ledger row: a token a handler issues commits together with that row, so one event yields one
token however often it is delivered. The mail goes out last, just before that commit. If the
commit then fails, the job retries and mails a fresh link; the first mail's link never existed
in the database and answers "not valid". That is the price of never mailing a link before its
token is at least flushed; the reverse order could lose the mail altogether.

Links are built from SITE_URL, never from a request's Host (there is no request here anyway).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, render_template

from blog.auth.models import User
from blog.auth.tokens import LIFETIMES, issue_token
from blog.core.mail import send_mail
from blog.extensions import db
from blog.outbox.registry import Message, handles


def site_link(endpoint: str, **values: Any) -> str:
    """An absolute URL on the configured site (SITE_URL may carry a path prefix)."""
    site = urlsplit(current_app.config["SITE_URL"])
    adapter = current_app.url_map.bind(
        site.netloc, script_name=site.path or "/", url_scheme=site.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def _hours(purpose: str) -> int:
    return int(LIFETIMES[purpose].total_seconds() // 3600)


def _user(message: Message) -> User | None:
    """The event's user, re-read now; None for an account deleted since."""
    user = db.session.get(User, uuid.UUID(message["aggregate_id"]))
    if user is None or user.deleted_at is not None:
        return None
    return user


def _send(to: str, subject: str, template: str, **context: Any) -> None:
    context = {"site_url": current_app.config["SITE_URL"], **context}
    send_mail(
        to=to,
        subject=subject,
        text=render_template(f"mail/{template}.txt", **context),
        html=render_template(f"mail/{template}.html", **context),
    )


@handles("user.registered", "user.email_verification_requested", queue="mail")
def send_verification_email(message: Message) -> None:
    """Mail a link that confirms the address. Nothing for a confirmed or deleted account."""
    user = _user(message)
    if user is None or user.is_verified:
        return
    token = issue_token(user, "verify_email")
    _send(
        user.email,
        "Confirm your email address for Blog",
        "verify_email",
        user=user,
        link=site_link("auth.verify_email", token=token),
        hours=_hours("verify_email"),
        welcome=message["type"] == "user.registered",
    )


@handles("user.password_reset_requested", queue="mail")
def send_password_reset_email(message: Message) -> None:
    """Mail a one-hour, single-use link that sets a new password."""
    user = _user(message)
    if user is None:
        return
    token = issue_token(user, "reset_password")
    _send(
        user.email,
        "Reset your Blog password",
        "reset_password",
        user=user,
        link=site_link("auth.reset_password", token=token),
        hours=_hours("reset_password"),
    )


@handles("user.email_change_requested", queue="mail")
def send_email_change_confirmation(message: Message) -> None:
    """Mail the NEW address a link that makes the change; nothing changes until it is opened."""
    user = _user(message)
    new_email = str(message["data"].get("new_email", ""))
    if user is None or not new_email or new_email == user.email:
        return
    token = issue_token(user, "change_email", new_email=new_email)
    _send(
        new_email,
        "Confirm your new email address for Blog",
        "confirm_new_email",
        user=user,
        new_email=new_email,
        link=site_link("auth.confirm_email_change", token=token),
        hours=_hours("change_email"),
    )


@handles("user.email_changed", queue="mail")
def send_email_changed_notice(message: Message) -> None:
    """Tell the OLD address that the account now uses another one."""
    user = _user(message)
    old_email = str(message["data"].get("old_email", ""))
    if user is None or not old_email:
        return
    _send(
        old_email,
        "Your Blog email address was changed",
        "email_changed",
        user=user,
        new_email=str(message["data"].get("new_email", "")),
        reset_link=site_link("auth.reset_request"),
    )


@handles("user.password_changed", queue="mail")
def send_password_changed_notice(message: Message) -> None:
    """Tell the owner their password changed, so a change they did not make is noticed."""
    user = _user(message)
    if user is None:
        return
    _send(
        user.email,
        "Your Blog password was changed",
        "password_changed",
        user=user,
        reset_link=site_link("auth.reset_request"),
    )
