"""Shared steps of the account mail tests: sign up through the form, read links from mail."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

from flask import Flask
from sqlalchemy import select

from blog.extensions import db
from blog.outbox.models import OutboxEvent
from tests.conftest import Client, new_client

PASSWORD = "Analytical-Engine-1843"


def sign_up(
    app: Flask, email: str = "ada@example.com", user_name: str = "ada", **kw: Any
) -> Client:
    """A new browser that signs up through the form (and so stays signed in)."""
    client = new_client(app)
    response = client.post_form(
        "/register",
        {"email": email, "user_name": user_name, "password": PASSWORD, "confirm": PASSWORD},
        csrf_from="/register",
        **kw,
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def sign_in(app: Flask, email: str, password: str = PASSWORD) -> Client:
    client = new_client(app)
    response = client.post_form(
        "/login", {"email": email, "password": password}, csrf_from="/login"
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def text_of(message: EmailMessage) -> str:
    return str(message.get_body(("plain",)).get_content())


def html_of(message: EmailMessage) -> str:
    return str(message.get_body(("html",)).get_content())


def mail_to(smtp_server: Any, address: str) -> list[EmailMessage]:
    return [m for m in smtp_server.messages if m["To"] == address]


def link_in(app: Flask, message: EmailMessage, path: str) -> str:
    """The one link to `path` in a mail, asserting it is on SITE_URL in both parts."""
    site = app.config["SITE_URL"]
    pattern = re.compile(re.escape(f"{site}{path}") + r"[A-Za-z0-9_-]+")
    in_text = pattern.findall(text_of(message))
    assert len(in_text) == 1, text_of(message)
    assert pattern.findall(html_of(message)) == in_text
    return str(in_text[0])


def relative(app: Flask, link: str) -> str:
    return link.removeprefix(app.config["SITE_URL"])


def events(app: Flask, event_type: str) -> list[OutboxEvent]:
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.event_type == event_type)
            .order_by(OutboxEvent.position)
        ).all()
        db.session.expunge_all()
        return list(rows)


def is_signed_in(client: Client) -> bool:
    return client.get("/account").status_code == 200
