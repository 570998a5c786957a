"""The development mail sink (a real SMTP server) and the /dev/mail mailbox that reads it."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest

from blog.core.mail import send_mail
from blog.devmail.sink import MailSink

NAME_RE = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}\.eml$")
HOSTILE_HTML = (
    '<p id="from-the-mail">Hello <b>Ada</b></p>'
    "<script>document.title = 'owned'</script>"
    '<img src="x" onerror="alert(1)">'
)


@pytest.fixture
def sink(app, tmp_path: Path) -> Iterator[MailSink]:
    """A sink on a temporary directory; the app sends to it and /dev/mail reads it."""
    previous = {key: app.config.get(key) for key in ("SMTP_URL", "DEV_MAIL_DIR")}
    with MailSink(tmp_path / "mail") as running:
        app.config.update(SMTP_URL=running.url, DEV_MAIL_DIR=running.directory)
        try:
            yield running
        finally:
            app.config.update(previous)


def _stored(sink: MailSink) -> list[Path]:
    return sorted(sink.directory.glob("*.eml"))


def _send(app, subject: str, *, html: str | None = None, to: str = "ada@example.com") -> None:
    with app.app_context():
        send_mail(to=to, subject=subject, text=f"Plain text of {subject}", html=html)


# --------------------------------------------------------------------------- the sink


def test_sink_stores_what_send_mail_sends(app, sink):
    with app.app_context():
        message_id = send_mail(
            to="ada@example.com", subject="Hello", text="Plain body", html="<p>HTML body</p>"
        )

    [path] = _stored(sink)
    assert NAME_RE.match(path.name), path.name
    message = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert message["Message-ID"] == message_id
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Hello"
    assert message["X-RcptTo"] == "ada@example.com"  # the envelope, kept for Bcc
    assert message.get_body(("plain",)).get_content().strip() == "Plain body"
    assert "<p>HTML body</p>" in message.get_body(("html",)).get_content()
    # Nothing half-written is left behind.
    assert [p.name for p in sink.directory.iterdir()] == [path.name]


def test_sink_file_names_sort_by_arrival(app, sink):
    for subject in ("first", "second", "third"):
        _send(app, subject)

    subjects = [
        message_from_bytes(p.read_bytes(), policy=default_policy)["Subject"] for p in _stored(sink)
    ]
    assert subjects == ["first", "second", "third"]


def test_sink_keeps_envelope_recipients_the_headers_do_not_show(sink):
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as smtp:
        smtp.sendmail(
            "app@example.com",
            ["visible@example.com", "hidden@example.com"],
            b"From: app@example.com\r\nTo: visible@example.com\r\nSubject: Bcc\r\n\r\nbody\r\n",
        )
    [path] = _stored(sink)
    message = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert message["X-RcptTo"] == "visible@example.com, hidden@example.com"
    assert message["X-MailFrom"] == "app@example.com"


def test_stopped_sink_refuses_connections(tmp_path):
    sink = MailSink(tmp_path)
    sink.start()
    port = sink.port
    sink.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP("127.0.0.1", port, timeout=2)


# --------------------------------------------------------------------------- the mailbox


def test_mailbox_lists_messages_newest_first(app, client, sink):
    _send(app, "Older message", to="ada@example.com")
    _send(app, "Newer message", to="grace@example.com")

    response = client.get("/dev/mail")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.index("Newer message") < page.index("Older message")
    assert "grace@example.com" in page
    assert "ada@example.com" in page
    assert "no-reply@localhost" in page  # the From header
    assert '<th scope="col">Subject</th>' in page
    for path in _stored(sink):
        assert f'href="/dev/mail/{path.name}"' in page


def test_mailbox_says_so_when_empty(client, sink):
    page = client.get("/dev/mail").get_data(as_text=True)
    assert "No mail yet" in page


def test_message_page_shows_text_and_keeps_html_out_of_our_page(app, client, sink):
    _send(app, "Welcome <b>aboard</b>", html=HOSTILE_HTML)
    [path] = _stored(sink)

    response = client.get(f"/dev/mail/{path.name}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<pre" in page
    assert "Plain text of Welcome &lt;b&gt;aboard&lt;/b&gt;" in page
    # The HTML part is never markup of our page: only escaped, in a sandboxed srcdoc...
    assert '<p id="from-the-mail">' not in page
    assert "<script>document.title" not in page
    assert 'onerror="alert(1)"' not in page
    srcdoc = re.search(r'<iframe[^>]*\ssandbox\s[^>]*srcdoc="([^"]*)"', page)
    assert srcdoc, "no sandboxed iframe with srcdoc"
    assert "&lt;p id=&#34;from-the-mail&#34;&gt;" in srcdoc.group(1)
    # ...with an empty sandbox (no allow-scripts), under our unchanged CSP.
    iframe_tag = re.search(r"<iframe[^>]*>", page).group(0)
    assert "allow-" not in iframe_tag
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_message_without_html_part(app, client, sink):
    _send(app, "Text only")
    [path] = _stored(sink)
    page = client.get(f"/dev/mail/{path.name}").get_data(as_text=True)
    assert "Plain text of Text only" in page
    assert "This message has no HTML part." in page
    assert "<iframe" not in page


def test_raw_download_is_the_stored_file(app, client, sink):
    _send(app, "Raw")
    [path] = _stored(sink)
    response = client.get(f"/dev/mail/{path.name}/raw")
    assert response.status_code == 200
    assert response.mimetype == "message/rfc822"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.data == path.read_bytes()


def test_malformed_message_still_shows(client, sink):
    """A hand-dropped file with a bogus charset and no headers to speak of renders, not 500s."""
    name = "20260101T000000.000000Z-abcdef.eml"
    (sink.directory / name).write_bytes(
        b"Subject: =?x-bogus?q?odd?=\r\nContent-Type: text/plain; charset=x-bogus\r\n\r\n"
        b"caf\xe9 body\r\n"
    )
    assert client.get("/dev/mail").status_code == 200
    response = client.get(f"/dev/mail/{name}")
    assert response.status_code == 200
    assert "body" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "name",
    [
        "..%2Foutside.eml",
        "..%2F..%2Foutside.eml",
        "%2E%2E%2Foutside.eml",
        "..%252Foutside.eml",
        "..",
        ".",
        "%2Fetc%2Fpasswd",
        "no-such-message.eml",
        "linked.eml",
        ".20260101T000000.000000Z-abcdef.eml.part",
    ],
)
def test_names_outside_the_listing_are_404(app, client, sink, name):
    outside = sink.directory.parent / "outside.eml"
    outside.write_bytes(b"Subject: secret outside the mailbox\r\n\r\nsecret\r\n")
    (sink.directory / "linked.eml").symlink_to(outside)
    (sink.directory / ".20260101T000000.000000Z-abcdef.eml.part").write_bytes(b"Subject: x\r\n")

    for path in (f"/dev/mail/{name}", f"/dev/mail/{name}/raw"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "secret" not in response.get_data(as_text=True)


def test_delete_all_empties_the_mailbox(app, client, sink):
    _send(app, "one")
    _send(app, "two")
    response = client.post_form("/dev/mail/delete", csrf_from="/dev/mail")
    assert response.status_code == 302
    assert _stored(sink) == []
    page = client.get("/dev/mail").get_data(as_text=True)
    assert "Deleted 2 messages." in page
    assert "No mail yet" in page


def test_delete_all_needs_the_csrf_token(app, client, sink):
    _send(app, "kept")
    assert client.post("/dev/mail/delete").status_code == 400
    assert len(_stored(sink)) == 1


# --------------------------------------------------------------------------- environments


def test_production_has_no_dev_mail(make_app, tmp_path):
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    (mail_dir / "20260101T000000.000000Z-abcdef.eml").write_bytes(b"Subject: reset link\r\n\r\n")
    production = make_app(
        {"DEV_MAIL_DIR": mail_dir},
        BLOG_ENV="production",
        BLOG_SECRET_KEY="p" * 48,
        BLOG_SITE_URL="https://blog.example.com",
    )
    client = production.test_client()
    base = "https://blog.example.com"
    assert client.get("/healthz", base_url=base).status_code == 200  # the app does answer
    assert client.get("/dev/mail", base_url=base).status_code == 404
    name = "20260101T000000.000000Z-abcdef.eml"
    assert client.get(f"/dev/mail/{name}", base_url=base).status_code == 404
    assert not [r.rule for r in production.url_map.iter_rules() if r.rule.startswith("/dev")]
    home = client.get("/", base_url=base)
    assert home.status_code == 200
    assert "/dev/mail" not in home.get_data(as_text=True)


def test_nav_links_to_the_mailbox_only_in_development(make_app, client, tmp_path):
    development = make_app(
        {"DEV_MAIL_DIR": tmp_path}, BLOG_ENV="development", BLOG_SECRET_KEY="d" * 48
    )
    page = development.test_client().get("/").get_data(as_text=True)
    assert '<a href="/dev/mail">Dev mail</a>' in page
    assert development.test_client().get("/dev/mail").status_code == 200
    # Testing registers the page (for these tests) but does not advertise it.
    assert "/dev/mail" not in client.get("/").get_data(as_text=True)


# --------------------------------------------------------------------------- end to end


def test_verification_mail_after_sign_up_lands_in_the_mailbox(app, client, sink, run_jobs):
    response = client.post_form(
        "/register",
        {
            "email": "ada@example.com",
            "user_name": "ada",
            "password": "Analytical-1843",
            "confirm": "Analytical-1843",
        },
        csrf_from="/register",
    )
    assert response.status_code == 302
    run_jobs()  # the relay, then the verification-mail handler it enqueues

    [path] = _stored(sink)
    listing = client.get("/dev/mail").get_data(as_text=True)
    assert "Confirm your email address for Blog" in listing
    assert "ada@example.com" in listing
    page = client.get(f"/dev/mail/{path.name}").get_data(as_text=True)
    assert "Hello ada," in page
    assert f"{app.config['SITE_URL']}/verify-email/" in page
    assert "srcdoc=" in page  # the HTML version, sandboxed


def test_the_mailbox_answers_only_this_machine(client):
    assert client.get("/dev/mail").status_code == 200
    response = client.get("/dev/mail", environ_overrides={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 404
