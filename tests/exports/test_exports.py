"""Download your data: the real job (RQ's in-process worker on the real Redis) builds the ZIP
in the real storage; the test opens it and checks both what must be in it and what must not."""

from __future__ import annotations

import io
import json
import re
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update

from blog.auth.models import User
from blog.chat.services import send_message, start_direct
from blog.comments.services import add_comment
from blog.core.db import utcnow
from blog.exports.jobs import build_export, expire_data_exports
from blog.exports.models import DataExport
from blog.exports.sections import SECTIONS
from blog.extensions import db
from blog.notifications.models import Notification
from blog.uploads.services import upload_file
from blog.uploads.storage import get_storage
from tests.auth.helpers import html_of, mail_to, text_of
from tests.auth.helpers import sign_in as sign_in_as
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.posts.helpers import make_post
from tests.uploads.helpers import png

ALICE_MESSAGE = "Alice to Bob: the tide tables are attached"
BOB_MESSAGE = "Bob to Alice: my private reply, not hers to export"
ALICE_COMMENT = "Alice's comment on Bob's post"
BOB_COMMENT = "Bob's comment on Alice's post"


@pytest.fixture(autouse=True)
def _empty_storage(app) -> Iterator[None]:
    root = Path(app.config["UPLOADS_DIR"])
    shutil.rmtree(root, ignore_errors=True)
    yield
    shutil.rmtree(root, ignore_errors=True)


def _signed_in(app, email: str):
    return sign_in_as(app, email, DEFAULT_PASSWORD)


@pytest.fixture
def people(app) -> dict[str, Any]:
    """alice and bob with posts, comments on each other's posts, a conversation with a
    message each, and an upload each."""
    with app.app_context():
        now = utcnow()
        alice = make_user(email="alice@example.com", user_name="alice", email_verified_at=now)
        bob = make_user(email="bob@example.com", user_name="bob", email_verified_at=now)
        her_post = make_post(alice, title="Alice on tides", content="Tides **rise** twice a day.")
        draft = make_post(
            alice, title="Alice's draft", content="Not ready to be read yet.", status="draft"
        )
        his_post = make_post(bob, title="Bob's notes", content="Bob writes about his things.")
        add_comment(his_post, alice, ALICE_COMMENT)
        add_comment(her_post, bob, BOB_COMMENT)
        conversation = start_direct(alice, bob)
        send_message(conversation.id, alice, ALICE_MESSAGE)
        send_message(conversation.id, bob, BOB_MESSAGE)
        storage = get_storage()
        her_file = upload_file(
            alice,
            io.BytesIO(png(color="navy")),
            client_name="tides.png",
            purpose="attachment",
            storage=storage,
        )
        his_file = upload_file(
            bob,
            io.BytesIO(png(color="red")),
            client_name="bobs-secret.png",
            purpose="attachment",
            storage=storage,
        )
        db.session.commit()
        result = {
            "alice": alice.id,
            "bob": bob.id,
            "her_post": her_post.slug,
            "draft": draft.slug,
            "conversation": conversation.id,
            "her_file": (her_file.id, her_file.storage_key),
            "his_file": his_file.id,
        }
        db.session.remove()
    return result


def _request(client) -> Any:
    return client.post_form("/account/export", {}, csrf_from="/account")


def _export(app, user_id) -> DataExport:
    with app.app_context():
        row = db.session.scalars(
            select(DataExport)
            .where(DataExport.user_id == user_id)
            .order_by(DataExport.requested_at.desc())
        ).first()
        assert row is not None
        db.session.expunge_all()
        return row


def _set(app, export_id, **values) -> None:
    with app.app_context():
        db.session.execute(update(DataExport).where(DataExport.id == export_id).values(**values))
        db.session.commit()


def _zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response.headers["Cache-Control"]
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def test_alice_downloads_her_data_and_nothing_of_bobs(  # noqa: PLR0915 - one user story
    app, people, run_jobs, smtp_server
) -> None:
    run_jobs()  # the comment and message notifications of the setting up
    smtp_server.messages.clear()
    alice = _signed_in(app, "alice@example.com")
    response = _request(alice)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account#account-export")
    page = alice.get("/account").get_data(as_text=True)
    assert 'role="status"' in page
    assert "<progress" in page

    run_jobs()  # relay → handler → build on the default queue → ready → relay → notify → mail

    export = _export(app, people["alice"])
    assert export.status == "ready"
    assert export.progress == 100
    assert export.blob_key == f"exports/{export.id.hex}.zip"
    assert (
        timedelta(hours=47, minutes=59)
        < export.expires_at - export.finished_at
        <= timedelta(hours=48)
    )
    # The archive is in the uploads storage (where every web process can read it).
    stored = Path(app.config["UPLOADS_DIR"]) / export.blob_key
    assert stored.is_file()
    assert stored.stat().st_size == export.blob_size

    # In-app and by email, with the link.
    path = f"/account/export/{export.id}/download"
    with app.app_context():
        rows = db.session.scalars(
            select(Notification).where(
                Notification.user_id == people["alice"], Notification.kind == "data_export_ready"
            )
        ).all()
        assert {r.type for r in rows} == {"websocket", "email"}
        assert all(r.link == path for r in rows)
    [mail] = mail_to(smtp_server, "alice@example.com")
    link = f"{app.config['SITE_URL']}{path}"
    assert link in text_of(mail)
    assert f'href="{link}"' in html_of(mail)

    page = alice.get("/account").get_data(as_text=True)
    assert f'href="{path}"' in page
    assert "Your download is ready" in page

    archive = _zip(alice.get(path))
    names = set(archive.namelist())
    expected = {f"{s.name}.json" for s in SECTIONS} | {"README.txt"}
    assert expected <= names
    readme = archive.read("README.txt").decode()
    for section in SECTIONS:
        assert f"{section.name}.json:" in readme

    profile = json.loads(archive.read("profile.json"))
    assert profile["user_name"] == "alice"
    assert profile["email"] == "alice@example.com"

    posts = json.loads(archive.read("posts.json"))
    assert {p["slug"] for p in posts} == {people["her_post"], people["draft"]}
    post = next(p for p in posts if p["slug"] == people["her_post"])
    assert archive.read(f"{post['file']}.md").decode().endswith("Tides **rise** twice a day.")
    assert "<strong>rise</strong>" in archive.read(f"{post['file']}.html").decode()

    comments = json.loads(archive.read("comments.json"))
    assert [c["content_markdown"] for c in comments] == [ALICE_COMMENT]

    messages = json.loads(archive.read("messages.json"))
    assert [(m["body"], m["conversation_id"]) for m in messages] == [
        (ALICE_MESSAGE, str(people["conversation"]))
    ]

    files = json.loads(archive.read("files.json"))
    her_file_id, her_key = people["her_file"]
    assert [f["id"] for f in files] == [str(her_file_id)]
    with app.app_context(), get_storage().open(her_key) as blob:
        assert archive.read(files[0]["file"]) == blob.read()
    assert files[0]["file"].startswith("files/")
    assert files[0]["file"].endswith("tides.png")
    assert "storage_key" not in files[0]

    devices = json.loads(archive.read("devices.json"))
    assert devices
    assert all(d["device"] == "session" for d in devices)
    notifications = json.loads(archive.read("notifications.json"))
    kinds = {n["kind"] for n in notifications}
    assert {"comment_on_post", "chat_message"} <= kinds
    assert all(n["message"] is None for n in notifications if n["kind"] == "chat_message")
    assert json.loads(archive.read("preferences.json"))[0] == {
        "setting": "theme",
        "value": "system",
    }

    # Nothing of anyone else's private data, in any file of the archive.
    everything = b"\n".join(archive.read(name) for name in names)
    assert BOB_MESSAGE.encode() not in everything
    # (Bob's comment on her post is public, and her notification of it may quote it.)
    assert BOB_COMMENT not in archive.read("comments.json").decode()
    assert b"bob@example.com" not in everything
    assert str(people["his_file"]).encode() not in everything
    assert b"bobs-secret" not in everything
    # No secrets of hers either: no token hashes, no push endpoints or keys.
    for secret in (b"token_hash", b"password_hash", b"endpoint", b"p256dh"):
        found = [name for name in names if secret in archive.read(name)]
        assert not found, (secret, found)


def test_the_job_reports_progress_and_the_page_shows_it(app, people, run_jobs) -> None:
    alice = _signed_in(app, "alice@example.com")
    htmx = _signed_in(app, "alice@example.com")
    htmx.environ_base["HTTP_HX_REQUEST"] = "true"
    response = htmx.post("/account/export", headers={"X-CSRFToken": htmx.csrf("/account")})
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    export = _export(app, people["alice"])
    # The section alone, polling its own address every 2 s while the build runs.
    assert fragment.startswith('<div id="data-export"')
    assert f'hx-get="/account/export/{export.id}"' in fragment
    assert 'hx-trigger="every 2s"' in fragment
    assert 'role="status"' in fragment

    _set(app, export.id, status="building", progress=40, started_at=utcnow())
    polled = htmx.get(f"/account/export/{export.id}").get_data(as_text=True)
    assert 'value="40"' in polled
    assert "Gathering your data: 40%" in polled
    # Without JavaScript the page itself shows it; the fragment's address sends you there.
    assert 'value="40"' in alice.get("/account").get_data(as_text=True)
    plain = alice.get(f"/account/export/{export.id}")
    assert plain.status_code == 302
    assert plain.headers["Location"].endswith("#account-export")

    # The job writes its progress as it goes, section by section, up to 100.
    _set(app, export.id, status="requested", progress=0, started_at=None)
    seen: list[int] = []
    with app.app_context():
        engine = db.engine

    def watch(conn, cursor, statement, params, *_args):  # type: ignore[no-untyped-def]
        if statement.startswith("UPDATE data_exports SET progress"):
            seen.append(int(params["progress"]))

    event.listen(engine, "before_cursor_execute", watch)
    try:
        run_jobs()
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert seen == sorted(seen)
    assert len(seen) == len(SECTIONS)
    assert 0 < seen[0] < seen[-1] < 100
    assert _export(app, people["alice"]).progress == 100
    polled = htmx.get(f"/account/export/{export.id}").get_data(as_text=True)
    assert "hx-trigger" not in polled
    assert "/download" in polled


def test_the_link_is_refused_to_others_and_after_48_hours(app, people, run_jobs) -> None:
    alice = _signed_in(app, "alice@example.com")
    _request(alice)
    run_jobs()
    export = _export(app, people["alice"])
    path = f"/account/export/{export.id}/download"

    bob = _signed_in(app, "bob@example.com")
    assert bob.get(path).status_code == 404
    assert bob.get(f"/account/export/{export.id}").status_code == 404
    assert bob.get(f"/account/export/{uuid.uuid4()}/download").status_code == 404
    anonymous = app.test_client().get(path)
    assert anonymous.status_code == 302
    assert "/login" in anonymous.headers["Location"]
    assert alice.get(path).status_code == 200

    # 48 hours later (the cron job has not run yet): refused, with a clear page.
    _set(app, export.id, expires_at=utcnow() - timedelta(minutes=1))
    gone = alice.get(path)
    assert gone.status_code == 410
    body = gone.get_data(as_text=True)
    assert "This download has expired" in body
    assert "/account#account-export" in body
    assert "Your last download has expired" in alice.get("/account").get_data(as_text=True)


def test_one_request_a_day(app, people, run_jobs) -> None:
    alice = _signed_in(app, "alice@example.com")
    assert _request(alice).status_code == 302
    first = _export(app, people["alice"])
    again = _request(alice)
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) > 23 * 3600
    next_at = (first.requested_at + timedelta(hours=24)).strftime("%-d %b %Y, %H:%M UTC")
    refusal = again.get_data(as_text=True)
    assert f"one download of your data a day: the next one after {next_at}." in refusal
    assert 'href="/account#account-export"' in refusal
    run_jobs()
    page = alice.get("/account").get_data(as_text=True)
    assert "You can ask for one download a day: the next after" in page
    assert 'id="data-export-form"' not in page
    with app.app_context():
        count = db.session.query(DataExport).count()
    assert count == 1

    # A failed build does not count; a day later another may be asked for.
    _set(app, first.id, status="failed", blob_key=None, finished_at=utcnow())
    assert _request(alice).status_code == 302
    second = _export(app, people["alice"])
    _set(app, second.id, requested_at=utcnow() - timedelta(hours=24, minutes=1))
    assert _request(alice).status_code == 302


def test_cron_deletes_expired_archives(app, people, run_jobs) -> None:
    alice = _signed_in(app, "alice@example.com")
    _request(alice)
    run_jobs()
    export = _export(app, people["alice"])
    stored = Path(app.config["UPLOADS_DIR"]) / export.blob_key
    assert stored.is_file()

    with app.app_context():
        assert expire_data_exports() == 0  # not yet
    assert stored.is_file()
    _set(app, export.id, expires_at=utcnow() - timedelta(seconds=1))
    with app.app_context():
        assert expire_data_exports() == 1
        assert expire_data_exports() == 0  # idempotent
    assert not stored.exists()
    after = _export(app, people["alice"])
    assert after.status == "expired"
    assert after.blob_key is None
    assert alice.get(f"/account/export/{export.id}/download").status_code == 410


def test_cron_queues_a_build_whose_job_was_lost(app, people, run_jobs) -> None:
    with app.app_context():
        row = DataExport(user_id=people["alice"], requested_at=utcnow() - timedelta(minutes=10))
        db.session.add(row)
        db.session.commit()
        export_id = row.id
        expire_data_exports()
    run_jobs()
    assert _export(app, people["alice"]).id == export_id
    assert _export(app, people["alice"]).status == "ready"


def test_deleting_the_account_offers_the_download_and_purges_the_archives(
    app, people, run_jobs
) -> None:
    alice = _signed_in(app, "alice@example.com")
    page = alice.get("/account/delete").get_data(as_text=True)
    assert re.search(r'href="/account#account-export">download your data</a>', page)
    _request(alice)
    run_jobs()
    export = _export(app, people["alice"])
    stored = Path(app.config["UPLOADS_DIR"]) / export.blob_key
    assert stored.is_file()

    response = alice.post_form(
        "/account/delete", {"password": DEFAULT_PASSWORD}, csrf_from="/account/delete"
    )
    assert response.status_code == 302
    run_jobs()
    assert not stored.exists()
    with app.app_context():
        assert db.session.scalars(select(DataExport)).all() == []


def test_a_build_for_an_account_deleted_meanwhile_leaves_nothing(app, people) -> None:
    with app.app_context():
        row = DataExport(user_id=people["alice"])
        db.session.add(row)
        db.session.execute(
            update(User).where(User.id == people["alice"]).values(deleted_at=utcnow())
        )
        db.session.commit()
        assert build_export(str(row.id)) == "account deleted"
        assert db.session.scalars(select(DataExport)).all() == []
    assert not (Path(app.config["UPLOADS_DIR"]) / "exports").exists()


def _build_statements(app, count_queries, user_id) -> int:
    with app.app_context():
        row = DataExport(user_id=user_id)
        db.session.add(row)
        db.session.commit()
        export_id = str(row.id)
        db.session.remove()
    with count_queries() as q, app.app_context():
        assert build_export(export_id).startswith("ready")
        db.session.remove()
    return q.count


def test_the_build_reads_by_batches_not_by_row(app, people, count_queries) -> None:
    """The same statements for 2 posts as for 60 (with tags and comments): batches of 500."""
    few = _build_statements(app, count_queries, people["alice"])
    with app.app_context():
        alice = db.session.get(User, people["alice"])
        bob_post = make_post(db.session.get(User, people["bob"]), title="Another of Bob's")
        for i in range(60):
            make_post(alice, title=f"Post {i}", tags=["tides", f"t{i % 5}"])
            add_comment(bob_post, alice, f"comment {i}")
        db.session.commit()
        db.session.remove()
    many = _build_statements(app, count_queries, people["alice"])
    assert few == many, (few, many)


def test_the_account_page_costs_the_same_whatever_the_history(app, people, count_queries) -> None:
    alice = _signed_in(app, "alice@example.com")

    def cost() -> int:
        with count_queries() as q:
            assert alice.get("/account").status_code == 200
        return q.count

    with app.app_context():
        db.session.add(DataExport(user_id=people["alice"], status="failed"))
        db.session.commit()
    one = cost()
    with app.app_context():
        db.session.add_all(
            DataExport(
                user_id=people["alice"],
                status="failed",
                requested_at=utcnow() - timedelta(days=i + 2),
            )
            for i in range(30)
        )
        db.session.commit()
    assert cost() == one


def test_the_purge_erases_everything_the_download_lists(app, people, run_jobs) -> None:
    """After the retention period, every section's rows of the account go; bob's stay."""
    from rq.cron import CronScheduler

    from blog.auth.jobs import purge_deleted_accounts
    from blog.chat.models import Message
    from blog.comments.models import Comment
    from blog.core.redis import get_redis
    from blog.jobs.cron import register_schedule
    from blog.notifications.models import Follow, NotificationPreference
    from blog.posts.models import Post
    from blog.uploads.models import FileMetadata

    run_jobs()  # notifications and thumbnails of the setting up
    with app.app_context():
        db.session.add(Follow(follower_id=people["alice"], followed_id=people["bob"]))
        db.session.add(
            NotificationPreference(
                user_id=people["alice"], kind="mention", channel="email", enabled=False
            )
        )
        db.session.execute(
            update(User)
            .where(User.id == people["alice"])
            .values(
                deleted_at=utcnow() - timedelta(days=31),
                purge_after=utcnow() - timedelta(days=1),
                bio="Tides and tables.",
            )
        )
        db.session.commit()
        assert purge_deleted_accounts() == 1

        def mine(column) -> int:
            return len(db.session.scalars(select(column).where(column == people["alice"])).all())

        assert mine(Post.author_id) == 0
        assert mine(Comment.author_id) == 0
        assert mine(Message.sender_id) == 0
        assert mine(Notification.user_id) == 0
        assert mine(NotificationPreference.user_id) == 0
        assert mine(Follow.follower_id) == 0
        assert mine(FileMetadata.uploader_id) == 0
        alice = db.session.get(User, people["alice"])
        assert alice.bio is None
        assert alice.user_name.startswith("deleted-")
        # bob's own things stay: his post, his message in their conversation, his upload.
        assert db.session.scalars(select(Message.body)).all() == [BOB_MESSAGE]
        assert db.session.scalars(select(Post.title)).all() == ["Bob's notes"]
        assert db.session.get(FileMetadata, people["his_file"]) is not None
        scheduler = CronScheduler(connection=get_redis())
        register_schedule(scheduler)
        assert "expire_data_exports" in {job.func.__name__ for job in scheduler.get_jobs()}
    her_blob = Path(app.config["UPLOADS_DIR"]) / people["her_file"][1]
    assert her_blob.is_file()
    run_jobs()  # file.deleted → the blob goes (no other upload shares it)
    assert not her_blob.exists()


def test_the_purge_takes_a_persons_likes_and_recounts_the_items(app) -> None:
    """A purged account's likes go, and the posts and comments it liked keep true counts."""
    from blog.comments.services import add_comment
    from blog.exports.sections import purge_reactions
    from blog.reactions import services as reactions
    from tests.factories import make_user
    from tests.posts.helpers import make_post

    with app.app_context():
        author, gone, stays = make_user(), make_user(), make_user()
        post = make_post(author)
        comment = add_comment(post, author, "A comment to like")
        for person in (gone, stays):
            reactions.like_post(post, person, True)
            reactions.like_comment(comment, post, person, True)
        db.session.commit()
        assert (post.like_count, comment.like_count) == (2, 2)

        purge_reactions([gone.id])
        db.session.commit()
        db.session.expire_all()

        assert (post.like_count, comment.like_count) == (1, 1)
