"""Reactions to account events, run as jobs after commit (see blog/outbox)."""

from __future__ import annotations

import uuid

from flask import current_app, render_template

from blog.auth.models import User
from blog.core.mail import send_mail
from blog.extensions import db
from blog.outbox.registry import Message, handles


@handles("user.registered", queue="mail")
def send_welcome_email(message: Message) -> None:
    """Greet a new member by mail. Re-reads the user: a deleted account gets nothing."""
    user = db.session.get(User, uuid.UUID(message["aggregate_id"]))
    if user is None or user.deleted_at is not None:
        return
    context = {"user": user, "site_url": current_app.config["SITE_URL"]}
    send_mail(
        to=user.email,
        subject="Welcome to Blog",
        text=render_template("mail/welcome.txt", **context),
        html=render_template("mail/welcome.html", **context),
    )
