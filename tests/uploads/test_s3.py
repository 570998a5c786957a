"""The S3 backend over real HTTP: moto's standalone server on loopback stands in for S3 (no
real object store can run here). The same upload → dedup → serve → delete path as on disk."""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import select

from blog.extensions import db
from blog.uploads.models import FileMetadata
from blog.uploads.storage import S3Storage, blob_key
from tests.conftest import Client
from tests.uploads.helpers import png, verified_user

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_app(make_app, moto_url):
    bucket = "blog-test-uploads"
    client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", **CREDENTIALS)
    client.create_bucket(Bucket=bucket)
    app = make_app(
        BLOG_UPLOADS_BACKEND="s3",
        BLOG_S3_BUCKET=bucket,
        BLOG_S3_ENDPOINT_URL=moto_url,
        BLOG_S3_ACCESS_KEY_ID="testing",
        BLOG_S3_SECRET_ACCESS_KEY="testing",
    )
    yield app, client, bucket
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


def _run_jobs(app) -> None:
    from blog.jobs.queues import all_queues
    from blog.jobs.worker import make_worker

    with app.app_context():
        worker = make_worker(app, all_queues(), in_process=True)
        worker.work(burst=True)
        assert not any(q.failed_job_registry.count for q in all_queues())


def _keys(client, bucket) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_uploads_dedup_serve_and_delete_through_s3(app, s3_app, sign_in):
    s3app, s3, bucket = s3_app
    _user_id, email, _name = verified_user(s3app)
    browser = Client(s3app, s3app.response_class, use_cookies=True)
    sign_in(browser, email)
    image = png((64, 48))

    for name in ("one.png", "two.png"):
        token = browser.csrf("/uploads")
        response = browser.post(
            "/uploads",
            data={"csrf_token": token, "file": (io.BytesIO(image), name, "image/png")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 302

    keys = _keys(s3, bucket)
    assert len(keys) == 1
    assert keys[0].startswith("blobs/")
    with s3app.app_context():
        ids = [str(i) for i in db.session.scalars(select(FileMetadata.id))]
    assert len(ids) == 2
    served = browser.get(f"/files/{ids[0]}")
    assert served.status_code == 200
    assert served.data == s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()
    assert served.headers["Content-Type"] == "image/png"

    # The thumbnail job (run by a worker of this app) writes beside the blob, in the bucket.
    _run_jobs(s3app)
    assert any(k.startswith("thumbs/") for k in _keys(s3, bucket))
    token = browser.csrf("/uploads")
    for file_id in ids:
        browser.post(f"/uploads/{file_id}/delete", data={"csrf_token": token})
    _run_jobs(s3app)
    assert _keys(s3, bucket) == []


def test_s3_storage_refuses_keys_that_are_not_ours(moto_url):
    storage = S3Storage(bucket="any", endpoint_url=moto_url, region_name="us-east-1", **CREDENTIALS)
    with pytest.raises(ValueError, match="not a storage key"):
        storage.exists("../../etc/passwd")
    assert blob_key("a" * 64) == f"blobs/aa/aa/{'a' * 64}"


def test_the_same_5_mb_file_twice_is_one_object_in_s3_until_both_go(app, s3_app, sign_in):
    s3app, s3, bucket = s3_app
    _user_id, email, _name = verified_user(s3app)
    browser = Client(s3app, s3app.response_class, use_cookies=True)
    sign_in(browser, email)
    content = b"PK\x03\x04" + os.urandom(5 * 1024 * 1024)

    for name in ("a.zip", "b.zip"):
        token = browser.csrf("/uploads")
        response = browser.post(
            "/uploads",
            data={"csrf_token": token, "file": (io.BytesIO(content), name, "application/zip")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 302

    keys = _keys(s3, bucket)
    assert len(keys) == 1
    assert s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read() == content
    with s3app.app_context():
        rows = db.session.execute(
            select(FileMetadata.id, FileMetadata.file_name).order_by(FileMetadata.file_name)
        ).all()
    assert [name for _id, name in rows] == ["a.zip", "b.zip"]

    token = browser.csrf("/uploads")
    assert (
        browser.post(f"/uploads/{rows[0].id}/delete", data={"csrf_token": token}).status_code == 302
    )
    _run_jobs(s3app)
    assert _keys(s3, bucket) == keys  # b.zip still uses it
    assert browser.get(f"/files/{rows[1].id}").data == content

    assert (
        browser.post(f"/uploads/{rows[1].id}/delete", data={"csrf_token": token}).status_code == 302
    )
    _run_jobs(s3app)
    assert _keys(s3, bucket) == []
