"""The size and part limits as production meets them: a real HTTP client sending to gunicorn
(the production server, one worker process), byte by byte over a socket. The Flask test
client cannot show when the server answers, or how much memory its process took.

Measured: how much of the body had gone out when the 413 came back, and the worker process's
peak resident memory (VmHWM, which only ever grows) before and after.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from blog.config import PROJECT_ROOT
from tests.conftest import _free_port
from tests.factories import DEFAULT_PASSWORD
from tests.uploads.helpers import stored_files, verified_user

MB = 1024 * 1024
CHUNK = 64 * 1024


@dataclass
class Server:
    base: str
    port: int
    master: psutil.Process

    def worker(self) -> psutil.Process:
        children = self.master.children()
        assert len(children) == 1, children
        return children[0]

    def peak_rss(self) -> int:
        """The worker's peak resident set size so far, in bytes (Linux VmHWM)."""
        status = Path(f"/proc/{self.worker().pid}/status").read_text()
        match = re.search(r"^VmHWM:\s+(\d+) kB$", status, re.MULTILINE)
        assert match
        return int(match.group(1)) * 1024


@pytest.fixture
def gunicorn(app) -> Iterator[Server]:
    port = _free_port()
    env = {
        **os.environ,
        "BLOG_ENV": "testing",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "BLOG_SITE_URL": f"http://127.0.0.1:{port}",
        "BLOG_TRUSTED_HOSTS": "127.0.0.1",
        "BLOG_LOG_LEVEL": "WARNING",
        "BLOG_UPLOADS_DIR": str(app.config["UPLOADS_DIR"]),
        "PORT": str(port),
        "BLOG_WEB_WORKERS": "1",
        "BLOG_WEB_THREADS": "4",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield Server(base, port, psutil.Process(proc.pid))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def _csrf(html: str) -> str:
    match = re.search(r'"X-CSRFToken": "([^"]+)"', html) or re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def visitor(app, gunicorn) -> requests.Session:
    """A signed-in person's cookies, got through the real sign-in form over HTTP."""
    _user_id, email, _name = verified_user(app)
    session = requests.Session()
    token = _csrf(session.get(f"{gunicorn.base}/login", timeout=10).text)
    response = session.post(
        f"{gunicorn.base}/login",
        data={"csrf_token": token, "email": email, "password": DEFAULT_PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:300]
    # Warm the worker up (templates, the upload code) so what follows measures the request.
    small = session.post(
        f"{gunicorn.base}/uploads",
        files={"file": ("warm.zip", b"PK\x03\x04" + b"\0" * 1000, "application/zip")},
        data={"csrf_token": _csrf(session.get(f"{gunicorn.base}/uploads", timeout=10).text)},
        allow_redirects=False,
        timeout=10,
    )
    assert small.status_code == 302, small.text[:300]
    return session


@dataclass
class Sent:
    status: int
    body: str
    body_bytes_sent: int


def _send_streaming(
    server: Server,
    session: requests.Session,
    token: str,
    file_size: int,
    *,
    declare_length: bool,
    pause_every: int = 4 * MB,
    wait_first: float = 0.0,
) -> Sent:
    """POST /uploads a multipart body of `file_size` bytes of file, written to the socket a
    chunk at a time; stop writing as soon as the server has answered."""
    boundary = "b0undaryb0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.zip"\r\n'
        "Content-Type: application/zip\r\n\r\nPK\x03\x04"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    framing = (
        f"Content-Length: {len(head) + file_size + len(tail)}"
        if declare_length
        else "Transfer-Encoding: chunked"
    )
    request_head = (
        f"POST /uploads HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n{framing}\r\n"
        f"Cookie: {cookie}\r\nX-CSRFToken: {token}\r\nConnection: close\r\n\r\n"
    ).encode()

    def frame(data: bytes) -> bytes:
        return data if declare_length else f"{len(data):x}\r\n".encode() + data + b"\r\n"

    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sent = 0
    try:
        sock.sendall(request_head)
        sock.sendall(frame(head))
        # Give the server time to answer from the headers alone, before any of the file.
        select.select([sock], [], [], wait_first)
        remaining = file_size
        zeros = b"\0" * CHUNK
        while remaining > 0:
            # Has the server answered already? Then it wants no more of the body.
            if select.select([sock], [], [], 0)[0]:
                break
            piece = zeros[: min(CHUNK, remaining)]
            try:
                sock.sendall(frame(piece))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            remaining -= len(piece)
            if sent % pause_every < CHUNK:
                time.sleep(0.05)  # a real uplink is not instant: let the server act
        else:
            with contextlib.suppress(OSError):
                sock.sendall(frame(tail) + (b"" if declare_length else b"0\r\n\r\n"))
        # The answer (the server may have closed its reading side; the answer is there).
        raw = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                raw += chunk
    finally:
        sock.close()
    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 "), raw[:200]
    return Sent(int(status_line.split()[1]), rest.decode(errors="replace"), sent)


def _token(server: Server, session: requests.Session) -> str:
    return _csrf(session.get(f"{server.base}/uploads", timeout=10).text)


def test_an_11_mb_declared_body_is_refused_before_it_is_sent(app, gunicorn, visitor):
    before = gunicorn.peak_rss()
    blobs_before = stored_files(Path(app.config["UPLOADS_DIR"]))

    sent = _send_streaming(
        gunicorn, visitor, _token(gunicorn, visitor), 11 * MB, declare_length=True, wait_first=10
    )

    assert sent.status == 413
    assert "The file is too large: the limit is 10.0 MB." in sent.body
    # The answer came before the client sent a byte of the file: the server looked at
    # Content-Length and never waited for the body.
    assert sent.body_bytes_sent == 0
    grown = gunicorn.peak_rss() - before
    assert grown < 4 * MB, grown
    assert stored_files(Path(app.config["UPLOADS_DIR"])) == blobs_before


def test_a_chunked_body_is_cut_off_at_the_limit_with_bounded_memory(app, gunicorn, visitor):
    """With no Content-Length the server cannot know in advance: it reads up to the limit
    (spooling the file part to disk, not memory) and refuses the rest. 40 MB are offered; the
    client's socket buffers take a few MB more than the server reads, so "cut off" shows as
    far fewer than 40 MB gone out."""
    before = gunicorn.peak_rss()
    blobs_before = stored_files(Path(app.config["UPLOADS_DIR"]))

    sent = _send_streaming(
        gunicorn, visitor, _token(gunicorn, visitor), 40 * MB, declare_length=False
    )

    assert sent.status == 413
    assert "The file is too large: the limit is 10.0 MB." in sent.body
    assert 10 * MB < sent.body_bytes_sent < 20 * MB, sent.body_bytes_sent
    grown = gunicorn.peak_rss() - before
    assert grown < 4 * MB, grown
    assert stored_files(Path(app.config["UPLOADS_DIR"])) == blobs_before


def test_a_9_mb_upload_goes_through_without_sitting_in_memory(app, gunicorn, visitor):
    before = gunicorn.peak_rss()

    sent = _send_streaming(
        gunicorn, visitor, _token(gunicorn, visitor), 9 * MB, declare_length=True
    )

    assert sent.status == 302, sent.body[:300]
    assert sent.body_bytes_sent == 9 * MB  # every byte of the file went
    grown = gunicorn.peak_rss() - before
    assert grown < 4 * MB, grown
    blobs = [p for p in stored_files(Path(app.config["UPLOADS_DIR"])) if p.stat().st_size > MB]
    assert [p.stat().st_size for p in blobs] == [9 * MB + 4]


def test_a_form_with_2000_parts_is_refused_over_http(app, gunicorn, visitor):
    token = _token(gunicorn, visitor)
    fields = [(f"field{i}", "x") for i in range(2000)]

    response = visitor.post(
        f"{gunicorn.base}/uploads",
        data=[("csrf_token", token), *fields],
        files={"file": ("a.txt", b"hello\n", "text/plain")},
        headers={"X-CSRFToken": token},
        allow_redirects=False,
        timeout=30,
    )

    assert response.status_code == 413
    assert "The form has too many parts." in response.text
