"""Scale to a million (issue 18): every list and search page at two sizes, interleaved.

    .venv/bin/python benchmarks/scale.py [--rounds 25] [--small 200:20000]
        [--large 100000:1000000] [--url postgresql://user@host:port/postgres] [--rebuild]
        [--only search]

Not part of the test run. Builds two databases with `flask seed-bulk` (users:posts, seed 1):
on its own embedded PostgreSQL under var/scale/pg, or on the server of --url (databases
scale_<posts> there). A database that already holds the right number of posts is reused
(one from before seed-bulk made bookmarks and replies is refused: pass --rebuild)
(the million takes ~10 minutes to build on these machines: build it once; --rebuild forces it).
Then serves each with gunicorn (2 sync workers, the same settings for both), signs in two
people through the real session service (the one with half the notifications, the big
conversation and hundreds of bookmarks, and the admin), and measures every page of the issue
one request at a time, interleaved: each round visits every page on both sizes, alternating
which size goes first, so a noisy neighbour costs both sizes alike. Prints p50/p95 per page
and size and the ratio p95(large) / p95(small); exits 1 when a ratio exceeds --target (1.5).

Loopback only; everything it starts is stopped, Ctrl-C included.
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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg2

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from blog.core.embedded import EmbeddedPostgres, EmbeddedRedis, die_with_parent  # noqa: E402

SCALE_DIR = PROJECT_ROOT / "var" / "scale"
GUNICORN = ["-w", "2", "--keep-alive", "5"]
TARGET = 1.5
# The reply thread measured: a post whose thread nests 3+ deep, with about this many comments.
THREAD_COMMENTS = 30


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Size:
    users: int
    posts: int
    url: str = ""
    port: int = 0
    person_cookie: str = ""
    admin_cookie: str = ""
    paths: dict[str, str] | None = None

    @property
    def label(self) -> str:
        return f"{self.posts:,} posts"

    @property
    def database(self) -> str:
        return f"scale_{self.posts}"


def _size(raw: str) -> Size:
    users, posts = raw.split(":")
    return Size(int(users), int(posts))


def _connect(url: str) -> Any:
    return psycopg2.connect(url)


def _posts_in(url: str) -> int | None:
    try:
        conn = _connect(url)
    except psycopg2.OperationalError:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('posts') IS NOT NULL")
            if not cur.fetchone()[0]:
                return None
            cur.execute("SELECT count(*) FROM posts")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def _has_social_rows(url: str) -> bool:
    """Built by a seed-bulk that makes bookmarks and replies (the saved and thread pages need
    them; a database from before would be reused without)."""
    conn = _connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('bookmarks') IS NOT NULL")
            if not cur.fetchone()[0]:
                return False
            cur.execute(
                "SELECT EXISTS (SELECT 1 FROM bookmarks) "
                "AND EXISTS (SELECT 1 FROM comments WHERE parent_id IS NOT NULL)"
            )
            return bool(cur.fetchone()[0])
    finally:
        conn.close()


def _admin(server_url: str, statement: str) -> None:
    conn = _connect(server_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def build(size: Size, server_url: str, env: dict[str, str], rebuild: bool) -> None:
    """Create, migrate and seed the size's database unless it already holds its posts."""
    if not rebuild and _posts_in(size.url) == size.posts:
        if not _has_social_rows(size.url):
            # Not rebuilt unasked: the million takes half an hour or more.
            raise SystemExit(
                f"{size.label}: database {size.database} was built before seed-bulk made "
                "likes, bookmarks and replies (the saved and thread pages need them): "
                "pass --rebuild"
            )
        say(f"{size.label}: reusing database {size.database}")
        return
    say(f"{size.label}: building database {size.database} (seed-bulk, nice 19) ...")
    _admin(server_url, f'DROP DATABASE IF EXISTS "{size.database}"')
    _admin(server_url, f'CREATE DATABASE "{size.database}"')
    child = {**env, "DATABASE_URL": size.url}
    flask = ["nice", "-n", "19", sys.executable, "-m", "flask"]
    subprocess.run([*flask, "db", "upgrade"], env=child, cwd=PROJECT_ROOT, check=True)
    subprocess.run(
        [*flask, "seed-bulk", "--users", str(size.users), "--posts", str(size.posts)],
        env=child,
        cwd=PROJECT_ROOT,
        check=True,
    )


def prepare(size: Size, env: dict[str, str]) -> None:
    """Sessions for the busy person and the admin; the pages' addresses for this size."""
    from blog import create_app
    from blog.extensions import db

    app = create_app({}, environ={**env, "DATABASE_URL": size.url})
    with app.app_context():
        from sqlalchemy import text

        from blog.auth.models import User
        from blog.auth.services import start_session

        q = db.session.execute
        person = db.session.scalar(
            text(
                "SELECT user_id FROM notifications GROUP BY user_id ORDER BY count(*) DESC LIMIT 1"
            )
        )
        admin = db.session.scalar(
            text("SELECT id FROM users WHERE role = 'admin' ORDER BY created_at LIMIT 1")
        )
        cookie = app.config["AUTH_COOKIE_NAME"]
        tokens = []
        for user_id in (person, admin):
            user = db.session.get(User, user_id)
            tokens.append(
                start_session(user, remember=False, user_agent="scale", ip="127.0.0.1").token
            )
        db.session.commit()
        size.person_cookie, size.admin_cookie = (f"{cookie}={t}" for t in tokens)
        conversation = q(
            text(
                "SELECT conversation_id FROM messages GROUP BY conversation_id "
                "ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar()
        tag = q(text("SELECT slug FROM tags ORDER BY post_count DESC LIMIT 1")).scalar()
        author = q(
            text(
                "SELECT u.user_name FROM posts p JOIN users u ON u.id = p.author_id "
                "WHERE p.status = 'published' GROUP BY u.user_name ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar()
        # A post with a deep reply thread of about the same size at both sizes (the biggest
        # thread grows with the data; this page should measure the database, not the thread).
        thread = q(
            text(
                "SELECT p.slug FROM (SELECT post_id, count(*) AS n, max(cardinality(path)) AS d "
                "FROM comments GROUP BY post_id) t JOIN posts p ON p.id = t.post_id "
                "WHERE t.d >= 3 AND p.status = 'published' "
                "ORDER BY abs(t.n - :n), p.id LIMIT 1"
            ),
            {"n": THREAD_COMMENTS},
        ).scalar()
        # A deep keyset page: the cursor of the post at the middle of the feed.
        from blog.posts.queries import PostSummary, encode_cursor

        published_at, post_id = q(
            text(
                "SELECT published_at, id FROM posts WHERE status = 'published' "
                "ORDER BY published_at DESC, id DESC OFFSET :n LIMIT 1"
            ),
            {"n": size.posts // 2},
        ).one()
        stub: Any = PostSummary.__new__(PostSummary)
        object.__setattr__(stub, "published_at", published_at)
        object.__setattr__(stub, "id", post_id)
        cursor = encode_cursor(stub)
        db.session.remove()
        db.engine.dispose()
    size.paths = {
        "home": "/",
        "home, deep keyset page": f"/?before={cursor}",
        "tag page": f"/tags/{tag}",
        "author page": f"/u/{author}/posts",
        "notifications (person)": "/notifications",
        "chat list (person)": "/chat",
        "big conversation": f"/chat/{conversation}",
        "saved (person)": "/saved",
        "post page: deep reply thread": f"/posts/{thread}",
        "admin user list": "/admin/users",
        "admin user search: one match": "/admin/users?q=admin0",
        "admin user search: 'ada' (4% of accounts)": "/admin/users?q=ada",
        "moderation queue": "/admin/flags",
        "audit log": "/admin/audit",
        "search: common word": "/search?q=garden",
        "search: rare word": "/search?q=quokka",
        "search: two words": f"/search?q={quote('garden lantern')}",
        "search: prefix while typing": "/search?q=gard",
        "search: tag filter": f"/search?q=garden&tag={tag}",
    }


def _who(page: str) -> str:
    if page.startswith(("admin", "moderation", "audit")):
        return "admin"
    if "(person)" in page or page == "big conversation":
        return "person"
    return ""


@contextlib.contextmanager
def gunicorn(size: Size, env: dict[str, str]) -> Iterator[None]:
    log_dir = SCALE_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    size.port = _free_port()
    with (log_dir / f"gunicorn-{size.database}.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                *GUNICORN,
                "-b",
                f"127.0.0.1:{size.port}",
                "app:app",
            ],
            cwd=PROJECT_ROOT,
            env={**env, "DATABASE_URL": size.url},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets PDEATHSIG
        )
    try:
        deadline = time.monotonic() + 60
        while not _answers(size.port):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"gunicorn for {size.database} did not start: see {log_dir}")
            time.sleep(0.2)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def fetch(size: Size, path: str, cookie: str) -> float:
    """One GET on a fresh connection; its latency in ms. A non-200 answer stops the run."""
    conn = http.client.HTTPConnection("127.0.0.1", size.port, timeout=60)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    response = conn.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    conn.close()
    if response.status != 200:
        raise SystemExit(f"{size.label} {path}: status {response.status}")
    return elapsed


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(sizes: list[Size], rounds: int, only: str) -> dict[tuple[str, int], list[float]]:
    assert sizes[0].paths is not None
    pages = [p for p in sizes[0].paths if only in p]
    times: dict[tuple[str, int], list[float]] = {(p, i): [] for p in pages for i in (0, 1)}

    def cookie(size: Size, page: str) -> str:
        who = _who(page)
        return size.admin_cookie if who == "admin" else size.person_cookie if who else ""

    for page in pages:  # warm-up: one visit each, not counted
        for size in sizes:
            assert size.paths is not None
            fetch(size, size.paths[page], cookie(size, page))
    for n in range(rounds):
        say(f"round {n + 1}/{rounds}")
        order = (0, 1) if n % 2 == 0 else (1, 0)
        for page in pages:
            for i in order:
                size = sizes[i]
                assert size.paths is not None
                times[(page, i)].append(fetch(size, size.paths[page], cookie(size, page)))
    return times


def report(sizes: list[Size], times: dict[tuple[str, int], list[float]], target: float) -> int:
    small, large = sizes
    pages = list(dict.fromkeys(page for page, _i in times))
    say("")
    head = (
        f"| page | p50 {small.label} | p95 {small.label} | p50 {large.label} | "
        f"p95 {large.label} | p95 ratio | verdict |"
    )
    say(head)
    say("|" + "---|" * 7)
    misses = 0
    for page in pages:
        a, b = times[(page, 0)], times[(page, 1)]
        ratio = p95(b) / p95(a)
        ok = ratio <= target
        misses += not ok
        say(
            f"| {page} | {statistics.median(a):.1f} ms | {p95(a):.1f} ms | "
            f"{statistics.median(b):.1f} ms | {p95(b):.1f} ms | {ratio:.2f} | "
            f"{'ok' if ok else 'MISS'} |"
        )
    say("")
    say(f"{len(pages) - misses}/{len(pages)} pages within p95 ratio {target}")
    return 1 if misses else 0


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=_size, default=_size("200:20000"))
    parser.add_argument("--large", type=_size, default=_size("100000:1000000"))
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--url", help="a PostgreSQL server to build on (default: embedded)")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--only", default="", help="only the pages whose name contains this")
    parser.add_argument("--target", type=float, default=TARGET)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)

    pg = redis = None
    keep_running = False
    sizes = [args.small, args.large]
    try:
        if args.url:
            server_url = args.url
            parts = urlsplit(args.url)
            for size in sizes:
                size.url = urlunsplit(parts._replace(path="/" + size.database))
        else:
            pg = EmbeddedPostgres(SCALE_DIR / "pg")
            # A server already running on this directory (a build in progress, a psql session)
            # is someone else's to stop.
            if (SCALE_DIR / "pg" / "postmaster.pid").exists():
                keep_running = True
            pg.start()
            server_url = pg.url("postgres")
            for size in sizes:
                size.url = pg.url(size.database)
        redis = EmbeddedRedis(SCALE_DIR / "redis", persist=False)
        redis.start()
        env = {
            **os.environ,
            "BLOG_ENV": "development",
            "FLASK_APP": "app",
            "REDIS_URL": redis.url(0),
            "BLOG_LOG_LEVEL": "WARNING",
        }
        for size in sizes:
            build(size, server_url, env, args.rebuild)
        for size in sizes:
            prepare(size, env)
        with gunicorn(sizes[0], env), gunicorn(sizes[1], env):
            times = measure(sizes, args.rounds, args.only)
        return report(sizes, times, args.target)
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        return 130
    finally:
        if redis is not None:
            redis.stop()
        if pg is not None and not keep_running:
            pg.stop()


if __name__ == "__main__":
    sys.exit(main())
