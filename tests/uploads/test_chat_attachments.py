"""Pictures and files in chat (blog/chat/attachments.py, attachment_views.py), through HTTP:
sending one from the composer, how it shows, and who may fetch it — the participants of the
conversation whose message carries it; a non-participant, a removed member and anybody not
signed in get 404, like for a file that does not exist."""

from __future__ import annotations

import io
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from blog.chat.models import Message
from blog.extensions import db
from blog.uploads import services
from blog.uploads.models import FileMetadata
from blog.uploads.storage import get_storage
from tests.chat.helpers import add_messages, start
from tests.conftest import Client, new_client
from tests.posts.helpers import new_author, signed_in
from tests.uploads.helpers import SVG_WITH_SCRIPT, png, stored_files

MB = 1024 * 1024


@pytest.fixture
def alice(app):
    return new_author(app)


@pytest.fixture
def bob(app):
    return new_author(app)


@pytest.fixture
def carol(app):
    return new_author(app)


def attach(  # noqa: PLR0917 - reads as the form: where, what, name, type
    client: Client,
    cid: uuid.UUID,
    content: bytes,
    name: str = "cat.png",
    content_type: str = "image/png",
    caption: str = "",
    csrf_from: str | None = None,
    **headers: str,
) -> Any:
    """The composer's Attach form, as the page has it."""
    token = client.csrf(csrf_from or f"/chat/{cid}")
    return client.post(
        f"/chat/{cid}/attachments",
        data={
            "csrf_token": token,
            "caption": caption,
            "file": (io.BytesIO(content), name, content_type),
        },
        content_type="multipart/form-data",
        headers=headers,
    )


def _message(app, cid: uuid.UUID) -> Message:
    with app.app_context():
        message = db.session.scalars(
            select(Message).where(Message.conversation_id == cid, Message.kind != "text")
        ).one()
        db.session.expunge(message)
        return message


@pytest.fixture
def picture(app, alice, bob):
    """Alice and Bob's group, where Alice has sent a picture."""
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name, title="Cats")
    response = attach(a, cid, png((640, 480)), "cat.png", caption="Look at her")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert response.headers["Location"].endswith(f"/chat/{cid}#latest")
    return cid, _message(app, cid)


def test_the_composer_has_an_attach_form_that_works_without_javascript(app, alice, bob):
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)

    page = a.get(f"/chat/{cid}").get_data(as_text=True)

    form = re.search(r'<form id="attach-[^"]+"[^>]*>', page)
    assert form, "no attach form in the composer"
    assert f'action="/chat/{cid}/attachments"' in form.group(0)
    assert 'method="post"' in form.group(0)
    assert 'enctype="multipart/form-data"' in form.group(0)
    assert '<progress id="attach-' in page


def test_a_picture_is_sent_as_an_image_message_with_a_thumbnail_linking_to_the_original(
    app, alice, bob, picture, run_jobs
):
    cid, message = picture
    assert message.kind == "image"
    assert message.body == "Look at her"
    with app.app_context():
        file = db.session.get(FileMetadata, message.file_id)
        assert (file.purpose, file.uploader_id, file.mime_type) == ("chat", alice.id, "image/png")
    run_jobs()

    b = signed_in(app, bob.email)
    page = b.get(f"/chat/{cid}").get_data(as_text=True)
    item = re.search(rf'<li id="message-{message.id}".*?</li>', page, re.DOTALL)
    assert item, "the message is not on the page"
    html = item.group(0)
    assert f'<a href="/files/{message.file_id}"' in html
    assert f'<img src="/files/{message.file_id}/thumb" alt="Look at her"' in html
    assert 'width="320" height="240"' in html  # the thumbnail's box, no layout shift
    thumb = b.get(f"/files/{message.file_id}/thumb")
    assert thumb.status_code == 200
    assert thumb.headers["Content-Type"] == "image/webp"
    original = b.get(f"/files/{message.file_id}")
    assert original.status_code == 200
    assert original.headers["Content-Type"] == "image/png"


def test_a_file_is_sent_as_a_download_link_with_its_name_and_size(app, alice, bob):
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    content = b"%PDF-1.4\n" + b"x" * (3 * 1024 * 1024)

    response = attach(a, cid, content, "Minutes 2026.pdf", "application/pdf")

    assert response.status_code == 302
    message = _message(app, cid)
    assert message.kind == "file"
    page = signed_in(app, bob.email).get(f"/chat/{cid}").get_data(as_text=True)
    html = re.search(rf'<li id="message-{message.id}".*?</li>', page, re.DOTALL).group(0)
    assert f'<a href="/files/{message.file_id}" download>Minutes 2026.pdf</a>' in html
    assert "3.0 MB · PDF" in html
    download = signed_in(app, bob.email).get(f"/files/{message.file_id}")
    assert download.data == content
    assert download.headers["Content-Disposition"].startswith("attachment;")


def test_with_htmx_the_answer_appends_the_message(app, alice, bob):
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)

    response = attach(a, cid, png(), "cat.png", **{"HX-Request": "true"})

    assert response.status_code == 201
    html = response.get_data(as_text=True)
    message = _message(app, cid)
    assert "Sent." in html
    assert f'hx-swap-oob="beforeend:#messages-{cid}"' in html
    assert f'<li id="message-{message.id}" class="message mine"' in html
    assert f"/files/{message.file_id}/thumb" in html


@pytest.mark.parametrize("path", ["/files/{id}", "/files/{id}/thumb"])
def test_participants_fetch_a_chat_picture_and_nobody_else(  # noqa: PLR0917 - pytest fixtures
    app, alice, bob, carol, picture, path
):
    _cid, message = picture
    url = path.format(id=message.file_id)

    assert signed_in(app, alice.email).get(url).status_code == 200
    assert signed_in(app, bob.email).get(url).status_code == 200
    assert signed_in(app, carol.email).get(url).status_code == 404
    assert new_client(app).get(url).status_code == 404


def test_a_chat_attachment_is_private_to_caches(app, bob, picture):
    _cid, message = picture

    response = signed_in(app, bob.email).get(f"/files/{message.file_id}")

    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.headers["Vary"] == "Cookie"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_removed_member_gets_404(app, alice, bob, picture):
    cid, message = picture
    b = signed_in(app, bob.email)
    assert b.get(f"/files/{message.file_id}").status_code == 200

    a = signed_in(app, alice.email)
    removed = a.post_form(
        f"/chat/{cid}/members/{bob.id}/remove", {}, csrf_from=f"/chat/{cid}/members"
    )
    assert removed.status_code in (302, 303, 204), removed.get_data(as_text=True)[:300]

    assert b.get(f"/files/{message.file_id}").status_code == 404
    assert b.get(f"/files/{message.file_id}/thumb").status_code == 404


def test_a_non_participant_cannot_attach_to_a_conversation(app, alice, bob, carol):
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    c = signed_in(app, carol.email)

    response = attach(c, cid, png(), csrf_from="/")
    assert response.status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FileMetadata)) == 0


def test_refused_files_are_not_sent(app, alice, bob):
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    root = Path(app.config["UPLOADS_DIR"])

    svg = attach(a, cid, SVG_WITH_SCRIPT, "photo.png", "image/png")
    no_token = a.post(
        f"/chat/{cid}/attachments",
        data={"file": (io.BytesIO(png()), "cat.png", "image/png")},
        content_type="multipart/form-data",
    )

    assert svg.status_code == 415
    assert "not accepted" in svg.get_data(as_text=True)
    assert f'href="/chat/{cid}#latest"' in svg.get_data(as_text=True)  # the way back
    assert no_token.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0
        assert db.session.scalar(select(func.count()).select_from(FileMetadata)) == 0
    assert stored_files(root) == []


def test_a_send_refused_after_the_upload_leaves_no_blob(app, alice, bob, run_jobs):
    """The chat's send limit can refuse the message once the file is stored: the row rolls
    back and the blob goes with the next job, unless another upload shares it."""
    from blog.core.settings import invalidate_settings
    from blog.ops.services import set_setting
    from tests.posts.helpers import make_author

    with app.app_context():
        admin = make_author("admin")
        set_setting("rate_limits", {"chat_send": "1/hour"}, environment="testing", actor=admin)
        db.session.commit()
        # What the settings page does after its commit (config.changed's handler would too):
        # a background read may have cached the old rows in Redis meanwhile.
        invalidate_settings("testing")
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    root = Path(app.config["UPLOADS_DIR"])

    first = attach(a, cid, png((10, 10)), "one.png")
    second = attach(a, cid, b"PK\x03\x04" + os.urandom(1024), "two.zip", "application/zip")

    assert first.status_code == 302
    assert second.status_code == 429
    assert "too fast" in second.get_data(as_text=True)
    run_jobs()
    with app.app_context():
        rows = db.session.scalars(select(FileMetadata)).all()
        assert [r.file_name for r in rows] == ["one.png"]
    assert [p.name for p in stored_files(root) if p.parts[-4] == "blobs"] == [
        rows[0].checksum_sha256
    ]


def test_a_deleted_upload_leaves_the_message_saying_so(app, alice, bob, picture):
    cid, message = picture
    a = signed_in(app, alice.email)

    deleted = a.post_form(f"/uploads/{message.file_id}/delete", {}, csrf_from="/uploads")

    assert deleted.status_code == 302
    page = signed_in(app, bob.email).get(f"/chat/{cid}").get_data(as_text=True)
    assert "(attachment deleted)" in page
    assert signed_in(app, bob.email).get(f"/files/{message.file_id}").status_code == 404


def test_a_message_cannot_share_someone_elses_upload(app, alice, bob, carol, picture):
    """A message that refers to another person's private upload (a forged row, or a bug in a
    sender) does not make that upload visible to the conversation."""
    cid, _message = picture
    from blog.auth.models import User

    with app.app_context():
        row = services.upload_file(
            db.session.get(User, carol.id),
            io.BytesIO(png((12, 12))),
            client_name="private.png",
            purpose="chat",
            storage=get_storage(),
        )
        db.session.add(
            Message(conversation_id=cid, sender_id=alice.id, kind="image", file_id=row.id)
        )
        db.session.commit()
        file_id = row.id

    assert signed_in(app, bob.email).get(f"/files/{file_id}").status_code == 404
    assert signed_in(app, carol.email).get(f"/files/{file_id}").status_code == 200  # the owner's


def test_an_upload_not_yet_sent_is_its_owners_alone(app, alice, bob, picture):
    from blog.auth.models import User

    with app.app_context():
        row = services.upload_file(
            db.session.get(User, alice.id),
            io.BytesIO(png((20, 20))),
            client_name="draft.png",
            purpose="chat",
            storage=get_storage(),
        )
        db.session.commit()
        file_id = row.id

    assert signed_in(app, alice.email).get(f"/files/{file_id}").status_code == 200
    assert signed_in(app, bob.email).get(f"/files/{file_id}").status_code == 404


def test_pictures_in_the_history_cost_one_statement_however_many(app, alice, bob, count_queries):
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    add_messages(app, cid, alice.id, 3)
    assert attach(a, cid, png((30, 30), "red"), "1.png").status_code == 302
    a.get(f"/chat/{cid}")
    with count_queries() as one:
        a.get(f"/chat/{cid}")
    for i, color in enumerate(("green", "blue", "yellow", "black", "white")):
        assert attach(a, cid, png((30, 30), color), f"{i}.png").status_code == 302
    with count_queries() as six:
        page = a.get(f"/chat/{cid}").get_data(as_text=True)
    assert page.count("/thumb") == 6
    assert six.count == one.count
