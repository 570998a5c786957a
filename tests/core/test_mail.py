from __future__ import annotations

import pytest

from blog.core.mail import MailNotConfigured, send_mail


def test_mail_goes_through_a_real_smtp_server(app, smtp_server):
    with app.app_context():
        message_id = send_mail(
            to="ada@example.com",
            subject="Hello",
            text="Plain body",
            html="<p>HTML body</p>",
        )
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Hello"
    assert message["Message-ID"] == message_id
    assert message.get_body(("plain",)).get_content().strip() == "Plain body"
    assert "<p>HTML body</p>" in message.get_body(("html",)).get_content()


def test_mail_without_configuration_fails_clearly(app):
    previous = app.config["SMTP_URL"]
    app.config["SMTP_URL"] = None
    try:
        with app.app_context(), pytest.raises(MailNotConfigured, match="BLOG_SMTP_URL"):
            send_mail(to="a@example.com", subject="s", text="t")
    finally:
        app.config["SMTP_URL"] = previous
