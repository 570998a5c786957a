"""Uploads as people use them: avatars, post images, "Your uploads", and who may fetch what."""

from __future__ import annotations

import json

from sqlalchemy import select

from blog.auth.models import User
from blog.core.settings import invalidate_settings
from blog.extensions import db
from blog.ops.models import Configuration
from blog.uploads.models import FileMetadata
from tests.conftest import new_client
from tests.uploads.helpers import png, stored_files, upload, verified_user


def _row(app, **where) -> FileMetadata:
    with app.app_context():
        row = db.session.scalars(select(FileMetadata).filter_by(**where)).one()
        db.session.expunge(row)
        return row


def test_an_avatar_replaces_the_generated_one_everywhere(app, client, sign_in, run_jobs):
    user_id, email, user_name = verified_user(app)
    sign_in(client, email)

    response = upload(
        client, "/account/avatar", png((300, 200)), "me.png", "image/png", "/account/profile"
    )

    assert response.status_code == 302
    row = _row(app, purpose="avatar")
    with app.app_context():
        assert db.session.get(User, user_id).avatar_file_id == row.id
    page = new_client(app).get(f"/u/{user_name}").get_data(as_text=True)
    assert f"/files/{row.id}/thumb" in page
    assert 'class="avatar avatar-96 hue-' not in page  # the initials are gone

    # Until the job runs the thumbnail address serves the original; then a small WebP.
    assert new_client(app).get(f"/files/{row.id}/thumb").headers["Content-Type"] == "image/png"
    run_jobs()
    thumb = new_client(app).get(f"/files/{row.id}/thumb")
    assert thumb.status_code == 200
    assert thumb.headers["Content-Type"] == "image/webp"
    assert thumb.headers["Cache-Control"] == "public, max-age=3600"


def test_a_new_avatar_deletes_the_old_one_and_remove_brings_back_the_generated(
    app, client, sign_in, run_jobs
):
    user_id, email, user_name = verified_user(app)
    sign_in(client, email)
    upload(client, "/account/avatar", png(color="red"), "a.png", "image/png", "/account/profile")
    first = _row(app, purpose="avatar")
    upload(client, "/account/avatar", png(color="blue"), "b.png", "image/png", "/account/profile")

    with app.app_context():
        rows = db.session.scalars(select(FileMetadata)).all()
        assert [r.file_name for r in rows] == ["b.png"]
        assert db.session.get(User, user_id).avatar_file_id == rows[0].id
    assert new_client(app).get(f"/files/{first.id}").status_code == 404

    token = client.csrf("/account/profile")
    client.post("/account/avatar/remove", data={"csrf_token": token})
    run_jobs()
    with app.app_context():
        assert db.session.get(User, user_id).avatar_file_id is None
        assert db.session.scalars(select(FileMetadata)).all() == []
    assert 'class="avatar avatar-96 hue-' in new_client(app).get(f"/u/{user_name}").get_data(
        as_text=True
    )
    assert stored_files(app.config["UPLOADS_DIR"]) == []


def test_public_images_carry_etag_and_cache_headers(app, client, sign_in):
    _uid, email, _name = verified_user(app)
    sign_in(client, email)
    upload(client, "/account/avatar", png(), "me.png", "image/png", "/account/profile")
    row = _row(app)
    anonymous = new_client(app)

    response = anonymous.get(f"/files/{row.id}")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"] == 'inline; filename="me.png"'
    assert response.headers["ETag"] == f'"{row.checksum_sha256}"'
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    again = anonymous.get(f"/files/{row.id}", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""


def test_a_private_upload_is_its_owners_alone(app, client, sign_in):
    _uid, email, _name = verified_user(app)
    sign_in(client, email)
    upload(client, "/uploads", b"%PDF-1.4\n%minimal\n", "Résumé final.pdf", "application/pdf")
    row = _row(app)

    mine = client.get(f"/files/{row.id}")
    assert mine.status_code == 200
    assert mine.headers["Content-Type"] == "application/pdf"
    assert mine.headers["Cache-Control"] == "private, no-cache"
    assert mine.headers["Content-Disposition"] == (
        "attachment; filename=\"Resume final.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20final.pdf"
    )
    assert new_client(app).get(f"/files/{row.id}").status_code == 404
    _other_id, other_email, _n = verified_user(app)
    other = new_client(app)
    sign_in(other, other_email)
    assert other.get(f"/files/{row.id}").status_code == 404
    assert other.get(f"/files/{row.id}/thumb").status_code == 404


def test_text_is_served_as_a_plain_text_download(app, client, sign_in):
    _uid, email, _name = verified_user(app)
    sign_in(client, email)
    upload(client, "/uploads", "notes: café\n".encode(), "notes.exe", "application/x-msdownload")
    row = _row(app)

    response = client.get(f"/files/{row.id}")

    assert row.mime_type == "text/plain"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="notes.txt"'


def test_an_unknown_binary_is_refused_with_415(app, client, sign_in):
    _uid, email, _name = verified_user(app)
    sign_in(client, email)

    response = upload(client, "/uploads", b"\x7fELF\x02\x01\x01" + bytes(64), "tool", "")

    assert response.status_code == 415
    assert "We accept PNG, JPEG, GIF or WebP images" in response.get_data(as_text=True)


def test_an_image_becomes_public_with_its_authors_published_post(app, client, sign_in):
    _uid, email, _name = verified_user(app)
    sign_in(client, email)
    response = upload(
        client, "/uploads/image", png(), "chart.png", "image/png", "/write", alt="Sales chart"
    )
    assert response.status_code == 200
    row = _row(app)
    markdown = f"![Sales chart](/files/{row.id})"
    assert markdown in response.get_data(as_text=True)
    anonymous = new_client(app)
    assert anonymous.get(f"/files/{row.id}").status_code == 404

    # Someone else linking it in their post does not publish it.
    _oid, other_email, _n = verified_user(app)
    other = new_client(app)
    sign_in(other, other_email)
    other.post_form(
        "/write",
        {"title": "Borrowed picture", "content": f"Look: {markdown}", "action": "publish"},
        csrf_from="/write",
    )
    assert anonymous.get(f"/files/{row.id}").status_code == 404

    client.post_form(
        "/write",
        {"title": "Quarterly numbers", "content": f"Here:\n\n{markdown}\n", "action": "publish"},
        csrf_from="/write",
    )
    served = anonymous.get(f"/files/{row.id}")
    assert served.status_code == 200
    assert served.headers["Cache-Control"] == "public, max-age=3600"
    post_page = anonymous.get("/").get_data(as_text=True)
    assert "Quarterly numbers" in post_page


def test_the_editor_gets_the_markdown_as_an_htmx_event(app, htmx, sign_in):
    _uid, email, _name = verified_user(app)
    sign_in(htmx, email)
    token = htmx.csrf("/write")
    import io

    response = htmx.post(
        "/uploads/image",
        data={"file": (io.BytesIO(png()), "a b.png", "image/png"), "alt": "A [tricky]\nalt"},
        headers={"X-CSRFToken": token},
        content_type="multipart/form-data",
    )

    assert response.status_code == 200
    row = _row(app)
    event = json.loads(response.headers["HX-Trigger"])["blog:image-uploaded"]
    assert event == {"markdown": f"![A (tricky) alt](/files/{row.id})", "field": "content"}


def test_an_htmx_refusal_is_a_fragment_with_the_reason(app, htmx, sign_in):
    _uid, email, _name = verified_user(app)
    sign_in(htmx, email)
    token = htmx.csrf("/write")
    import io

    response = htmx.post(
        "/uploads/image",
        data={"file": (io.BytesIO(b"%PDF-1.4\n"), "doc.pdf", "application/pdf")},
        headers={"X-CSRFToken": token},
        content_type="multipart/form-data",
    )

    assert response.status_code == 415
    body = response.get_data(as_text=True)
    assert "This is not an image" in body
    assert "<html" not in body


def test_uploads_need_a_token_and_a_confirmed_address(app, client, sign_in):
    import io

    _uid, email, _name = verified_user(app)
    sign_in(client, email)
    forged = client.post(
        "/uploads",
        data={"file": (io.BytesIO(b"hi\n"), "a.txt", "text/plain")},
        content_type="multipart/form-data",
    )
    assert forged.status_code == 400

    with app.app_context():
        from tests.factories import make_user

        unverified = make_user()
        unverified_email = unverified.email
    other = new_client(app)
    sign_in(other, unverified_email)
    assert upload(other, "/uploads", b"hi\n", "a.txt", "text/plain", "/").status_code == 403
    with app.app_context():
        assert db.session.scalars(select(FileMetadata)).all() == []


def test_the_quota_and_the_size_limit_come_from_the_uploads_setting(app, client, sign_in):
    with app.app_context():
        db.session.add(
            Configuration(
                key="uploads",
                environment=app.config["ENV_NAME"],
                value={"max_bytes": 4096, "quota_bytes": 6000},
            )
        )
        db.session.commit()
        invalidate_settings(app.config["ENV_NAME"])  # as the settings editor does
    _uid, email, _name = verified_user(app)
    sign_in(client, email)

    too_big = upload(client, "/uploads", b"x" * 5000, "big.txt", "text/plain")
    assert too_big.status_code == 413
    assert "larger than 4 KB" in too_big.get_data(as_text=True)
    assert upload(client, "/uploads", b"y" * 4000, "one.txt", "text/plain").status_code == 302
    over = upload(client, "/uploads", b"z" * 4000, "two.txt", "text/plain")
    assert over.status_code == 413
    assert "quota" in over.get_data(as_text=True)


def test_your_uploads_lists_your_files_and_deletes_them(app, client, htmx, sign_in, run_jobs):
    _uid, email, _name = verified_user(app)
    sign_in(client, email)
    upload(client, "/uploads", png(), "holiday.png", "image/png")
    upload(client, "/uploads", b"shopping list\n", "list.txt", "text/plain")
    mine = {
        r.file_name: r
        for r in [_row(app, file_name="holiday.png"), _row(app, file_name="list.txt")]
    }

    page = client.get("/uploads").get_data(as_text=True)
    assert "holiday.png" in page
    assert "list.txt" in page
    assert f"![holiday](/files/{mine['holiday.png'].id})" in page
    assert '<progress id="upload-form-progress"' in page

    _oid, other_email, _n = verified_user(app)
    other = new_client(app)
    sign_in(other, other_email)
    assert "holiday.png" not in other.get("/uploads").get_data(as_text=True)
    token = other.csrf("/uploads")
    stolen = other.post(f"/uploads/{mine['list.txt'].id}/delete", data={"csrf_token": token})
    assert stolen.status_code == 404

    sign_in(htmx, email)
    deleted = htmx.post_form(f"/uploads/{mine['list.txt'].id}/delete", csrf_from="/uploads")
    assert deleted.status_code == 200
    assert "Deleted list.txt" in deleted.get_data(as_text=True)
    assert "list.txt" not in client.get("/uploads").get_data(as_text=True)
