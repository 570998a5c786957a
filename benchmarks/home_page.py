"""Home page throughput against a minimal Flask page, in the same run (issue 5).

    .venv/bin/python benchmarks/home_page.py [--seconds 8] [--connections 16] [--rounds 3]

Not part of the test run. Starts an embedded PostgreSQL and Redis under var/bench/ (or uses
BENCH_DATABASE_URL's server for a scratch database, and BENCH_REDIS_URL, which is flushed),
applies the migrations, seeds 300 published posts by 10 authors with 20 tags (Markdown through
the real services), then serves, one at a time and under identical gunicorn settings (2 gthread
workers x 8 threads, no access log):

  (a) the baseline: benchmarks/minimal_app.py, a bare Flask page doing one query (the 20 newest
      titles) and one template render;
  (b) the real home page `/` for an anonymous visitor (the figure held to the target);
  (c) the real home page for a signed-in visitor (its session lookup adds a query).

A Python load generator keeps --connections HTTP/1.1 keep-alive connections busy for --seconds
after a warm-up, sending back the cookies it is given (as a browser would); rounds alternate
between the servers and the median of --rounds is reported. Target: (b) / (a) >= 0.40.
Loopback only; every loop is bounded; everything started is stopped, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.outbox_relay import BENCH_DIR, Services, say, wait_until  # noqa: E402
from blog import create_app  # noqa: E402
from blog.core.db import utcnow  # noqa: E402
from blog.core.embedded import die_with_parent  # noqa: E402
from blog.extensions import db  # noqa: E402

RATIO_TARGET = 0.40
POSTS, AUTHORS, TAGS = 300, 10, 20
GUNICORN = ["-k", "gthread", "-w", "2", "--threads", "8", "--keep-alive", "5"]
PARAGRAPH = (
    "Markdown with **bold**, _emphasis_, `code` and [a link](https://example.com). "
    "Enough words to make an excerpt worth reading on the home page, like a real post. "
)


def seed(app: Any) -> str:
    """Published posts through the real services; returns a signed-in session token."""
    from blog.auth.services import register_user, start_session
    from blog.posts.services import create_post, publish_post

    with app.app_context():
        authors = []
        for n in range(AUTHORS):
            user = register_user(
                email=f"bench{n}@example.com",
                user_name=f"bench{n}",
                password="Bench-pass-2026",  # noqa: S106
            )
            user.email_verified_at = utcnow()
            # Established writers: a new account's posts may hold only 2 links (blog.safety).
            user.created_at = utcnow() - timedelta(days=30)
            authors.append(user)
        start = utcnow() - timedelta(days=POSTS)
        for n in range(POSTS):
            author = authors[n % AUTHORS]
            post = create_post(
                author,
                title=f"Benchmark post number {n}: a title of ordinary length",
                content=f"# Section\n\n{PARAGRAPH * 8}\n\n- one\n- two\n",
                tag_names=[f"tag{(n + k) % TAGS}" for k in range(1 + n % 3)],
            )
            publish_post(post, actor=author, now=start + timedelta(days=n))
            if n % 50 == 49:
                db.session.commit()
        token = start_session(authors[0], remember=False, user_agent="bench", ip="127.0.0.1").token
        db.session.commit()
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
        db.session.remove()
        return token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gunicorn(target: str, env: dict[str, str], port: int) -> Iterator[None]:
    log_dir = BENCH_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"gunicorn-{target.replace(':', '-')}.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *GUNICORN, "-b", f"127.0.0.1:{port}", target],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets PDEATHSIG
        )
    try:
        if not wait_until(lambda: _answers(port), 60, 0.1):
            raise SystemExit(f"{target} did not start: see {log_dir}")
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def load(port: int, seconds: float, connections: int, cookie: str = "") -> float:
    """Requests per second answered 200 over `seconds`, after one second of warm-up."""
    stop_at = time.monotonic() + 1 + seconds
    measure_from = time.monotonic() + 1
    counts = [0] * connections
    errors: list[str] = []

    def worker(i: int) -> None:
        jar = {"Cookie": cookie} if cookie else {}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            now = time.monotonic()
            if now >= stop_at:
                break
            try:
                conn.request("GET", "/", headers=jar)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            if response.status != 200:
                errors.append(f"status {response.status}")
                continue
            # Keep the cookies a browser would keep (the CSRF session, a rotated token).
            for header in response.headers.get_all("Set-Cookie") or []:
                pair = header.split(";", 1)[0]
                name = pair.split("=", 1)[0]
                others = [
                    c
                    for c in jar.get("Cookie", "").split("; ")
                    if c and not c.startswith(name + "=")
                ]
                jar["Cookie"] = "; ".join([*others, pair])
            if now >= measure_from:
                counts[i] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    if errors:
        raise SystemExit(f"{len(errors)} failed requests, e.g. {errors[:3]}")
    return sum(counts) / seconds


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    services = Services()
    signal.signal(signal.SIGTERM, _interrupt)
    results: dict[str, list[float]] = {"minimal": [], "anonymous": [], "signed_in": []}
    try:
        say("starting services ...")
        services.start()
        env = {**os.environ, **services.environ(), "BLOG_LOG_LEVEL": "WARNING"}
        app = create_app({"OUTBOX_TRIGGER_ON_COMMIT": False}, environ=services.environ())
        import flask_migrate

        with app.app_context():
            flask_migrate.upgrade()
        say(f"seeding {POSTS} posts ...")
        token = seed(app)
        with app.app_context():
            db.engine.dispose()
        cookie = f"{app.config['AUTH_COOKIE_NAME']}={token}"
        minimal_port, app_port = free_port(), free_port()
        with (
            gunicorn("benchmarks.minimal_app:app", env, minimal_port),
            gunicorn("app:app", env, app_port),
        ):
            for n in range(args.rounds):
                say(f"round {n + 1}/{args.rounds} ...")
                results["minimal"].append(load(minimal_port, args.seconds, args.connections))
                results["anonymous"].append(load(app_port, args.seconds, args.connections))
                results["signed_in"].append(
                    load(app_port, args.seconds, args.connections, cookie=cookie)
                )
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        return 130
    finally:
        services.stop()

    minimal = statistics.median(results["minimal"])
    anonymous = statistics.median(results["anonymous"])
    signed = statistics.median(results["signed_in"])
    ratio = anonymous / minimal
    say("")
    say(f"{'page':<52} {'req/s':>10}  note")
    say("-" * 80)
    say(f"{'(a) minimal Flask page: 1 query + 1 template':<52} {minimal:>10,.0f}  baseline")
    say(f"{'(b) home page, anonymous':<52} {anonymous:>10,.0f}  ratio {ratio:.2f}")
    say(f"{'(c) home page, signed in':<52} {signed:>10,.0f}  ratio {signed / minimal:.2f}")
    say("-" * 80)
    rounds = ", ".join(
        f"{a:,.0f}/{b:,.0f}" for a, b in zip(results["minimal"], results["anonymous"], strict=True)
    )
    say(f"rounds (a/b): {rounds}")
    verdict = "PASS" if ratio >= RATIO_TARGET else "FAIL"
    say(f"home / minimal >= {RATIO_TARGET}: {ratio:.2f} {verdict}")
    return 0 if ratio >= RATIO_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
