"""Sending mail over SMTP. Called from jobs only (after commit), never from a request."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

from flask import current_app


class MailNotConfigured(RuntimeError):
    pass


def build_message(
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """The message send_mail sends (From, Date and a Message-ID on the site's host added)."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=urlsplit(current_app.config["SITE_URL"]).hostname)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def smtp_connect() -> smtplib.SMTP:
    """An open, greeted (and, as SMTP_URL says, encrypted and signed-in) SMTP connection."""
    url = current_app.config.get("SMTP_URL")
    if not url:
        raise MailNotConfigured("BLOG_SMTP_URL is not set: mail cannot be sent")
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port
    if parts.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, port or 465, timeout=10, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(host, port or 25, timeout=10)
    try:
        if parts.scheme == "smtp+starttls":
            client.starttls(context=ssl.create_default_context())
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
    except BaseException:
        client.close()
        raise
    return client


# Refusals of one message (its recipient, sender or content): the connection is still good.
MESSAGE_ERRORS = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
)


class SmtpSession:
    """One SMTP connection reused for many messages (the batch sender), opened on first use.

    `send` reconnects once when the connection was lost (the server closed an idle
    connection, or a network error); a second failure is raised, as is any refusal of the
    message itself (MESSAGE_ERRORS, after which the session goes on).
    """

    def __init__(self) -> None:
        self.client: smtplib.SMTP | None = None
        self.connections = 0

    def _connect(self) -> smtplib.SMTP:
        self.close()
        self.client = smtp_connect()
        self.connections += 1
        return self.client

    def send(self, message: EmailMessage) -> None:
        fresh = self.client is None
        client = self.client or self._connect()
        try:
            client.send_message(message)
            return
        except MESSAGE_ERRORS:
            raise
        except (smtplib.SMTPException, OSError):
            self.close()
            if fresh:
                raise
        self._connect().send_message(message)

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def send_mail(
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Send one message over a connection of its own; returns its Message-ID. Raises on any
    SMTP failure (jobs retry). For account mail that must go at once (password reset,
    verification); notification email goes in batches (blog.notifications.jobs).

    `headers` adds fields such as List-Unsubscribe (RFC 8058).
    """
    message = build_message(to=to, subject=subject, text=text, html=html, headers=headers)
    with smtp_connect() as client:
        client.send_message(message)
    return str(message["Message-ID"])
