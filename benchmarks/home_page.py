"""Home page cost against two baselines, measured side by side in one run (issues 5 and 18).

    .venv/bin/python benchmarks/home_page.py [--seconds 8] [--connections 16] [--rounds 4]
        [--worker-class gthread|sync]

Not part of the test run. Starts an embedded PostgreSQL and Redis under var/bench/ (or uses
BENCH_DATABASE_URL's server for a scratch database, and BENCH_REDIS_URL, which is flushed),
applies the migrations, seeds 300 published posts by 10 authors with 20 tags (Markdown through
the real services), then serves, each under identical gunicorn settings (2 gthread workers x
8 threads as the product runs, or --worker-class sync: 2 sync workers; no access log):

  (f) fortunes: benchmarks/fortunes_app.py, TechEmpower's fortunes page (12 rows read, one
      added, sorted, a Jinja loop with escaping): the baseline of the CPU ratios;
  (m) minimal: benchmarks/minimal_app.py, one query for the 20 newest titles and a template:
      the baseline of the req/s ratio kept since issue 5, so its history stays comparable;
  (b) the real home page `/` for an anonymous visitor;
  (c) the real home page for a signed-in visitor (session lookup, badges, like/save marks).

A Python load generator keeps --connections HTTP/1.1 keep-alive connections busy for --seconds
after a warm-up, sending back the cookies it is given (as a browser would). Rounds interleave
the four (f m b c, then c b m f, ...): req/s alone swings 45-75% from round to round on these
machines, so each window also records the CPU time the server used (gunicorn's processes plus
PostgreSQL's, from /proc via psutil) per request answered, and the medians over rounds are
reported. PostgreSQL's CPU is that of the embedded server's processes; with BENCH_DATABASE_URL,
of every process named postgres on the machine. Targets:

  req/s  (b) / (m) >= 0.40                                   (issue 5)
  CPU    (f) / (b) >= 0.50,  (f) / (c) >= 0.40,  (b) / (c) >= 0.80   (issue 18, item 5)

Exits 1 when one is missed. Loopback only; every loop is bounded; everything started is
stopped, Ctrl-C included.
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

import psutil  # noqa: E402

from benchmarks.outbox_relay import BENCH_DIR, Services, say, wait_until  # noqa: E402
from blog import create_app  # noqa: E402
from blog.core.db import utcnow  # noqa: E402
from blog.core.embedded import die_with_parent  # noqa: E402
from blog.extensions import db  # noqa: E402

RATIO_TARGET = 0.40  # req/s, home / minimal
CPU_TARGETS = {"anonymous": 0.50, "signed_in": 0.40}  # fortunes CPU / page CPU
SIGNED_TARGET = 0.80  # anonymous CPU / signed-in CPU
POSTS, AUTHORS, TAGS = 300, 10, 20
GUNICORN = {
    # The product's own kind (gunicorn.conf.py: threads hold the sockets), the default ...
    "gthread": ["-k", "gthread", "-w", "2", "--threads", "8", "--keep-alive", "5"],
    # ... and issue 18's measuring kind: 2 sync workers, no keep-alive, less server overhead.
    "sync": ["-k", "sync", "-w", "2"],
}
WORKER_CLASS = "gthread"  # --worker-class
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
def gunicorn(target: str, env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    log_dir = BENCH_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"gunicorn-{target.replace(':', '-')}.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                *GUNICORN[WORKER_CLASS],
                "-b",
                f"127.0.0.1:{port}",
                target,
            ],
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
        yield proc
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


# The PostgreSQL server whose CPU is counted: the embedded one's postmaster (set in main), or,
# with BENCH_DATABASE_URL, None: every process named postgres on the machine.
POSTMASTER: int | None = None


def _tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its descendants: those running, and those
    that ended and were waited for (the root's children_* times: PostgreSQL starts and reaps
    autovacuum workers mid-window; counting only the living made the PG share go negative)."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        reaped = root.cpu_times()
        total += reaped.children_user + reaped.children_system
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
    except psutil.Error:
        pass
    return total


def cpu_seconds(server: subprocess.Popen[bytes]) -> tuple[float, float]:
    """CPU time used so far by the gunicorn server (master and workers) and by PostgreSQL."""
    if POSTMASTER is not None:
        return _tree_cpu(server.pid), _tree_cpu(POSTMASTER)
    pg = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        times = proc.info.get("cpu_times")
        if (proc.info.get("name") or "").startswith("postgres") and times is not None:
            pg += times.user + times.system
    return _tree_cpu(server.pid), pg


def measure(
    server: subprocess.Popen[bytes], port: int, seconds: float, connections: int, cookie: str = ""
) -> dict[str, float]:
    """req/s and CPU per request (ms: the server's, PostgreSQL's, both) over one window."""
    box: dict[str, Any] = {}

    def started() -> None:
        box["before"] = cpu_seconds(server)

    served = load(port, seconds, connections, cookie, on_measure=started)
    app_after, pg_after = cpu_seconds(server)
    app_before, pg_before = box["before"]
    requests = served * seconds
    app_ms = (app_after - app_before) / requests * 1000
    pg_ms = (pg_after - pg_before) / requests * 1000
    return {"rps": served, "app_ms": app_ms, "pg_ms": pg_ms, "cpu_ms": app_ms + pg_ms}


def load(
    port: int,
    seconds: float,
    connections: int,
    cookie: str = "",
    on_measure: Any = None,
) -> float:
    """Requests per second answered 200 over `seconds`, after one second of warm-up;
    `on_measure` is called when the measured window opens."""
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
    if on_measure is not None:
        time.sleep(max(0.0, measure_from - time.monotonic()))
        on_measure()
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
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--worker-class", choices=sorted(GUNICORN), default="gthread")
    args = parser.parse_args(argv)
    global WORKER_CLASS  # noqa: PLW0603 - read by gunicorn(), set once here
    WORKER_CLASS = args.worker_class

    services = Services()
    signal.signal(signal.SIGTERM, _interrupt)
    pages = ("fortunes", "minimal", "anonymous", "signed_in")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in pages}
    try:
        say("starting services ...")
        services.start()
        env = {**os.environ, **services.environ(), "BLOG_LOG_LEVEL": "WARNING"}
        app = create_app({"OUTBOX_TRIGGER_ON_COMMIT": False}, environ=services.environ())
        import flask_migrate

        from benchmarks.fortunes_app import create_table

        with app.app_context():
            flask_migrate.upgrade()
        create_table(services.database_url)
        if services.pg is not None:
            global POSTMASTER  # noqa: PLW0603 - read by cpu_seconds, set once here
            POSTMASTER = int((services.pg.data_dir / "postmaster.pid").read_text().split()[0])
        say(f"seeding {POSTS} posts ...")
        token = seed(app)
        with app.app_context():
            db.engine.dispose()
        cookie = f"{app.config['AUTH_COOKIE_NAME']}={token}"
        ports = {name: free_port() for name in ("fortunes", "minimal", "app")}
        with (
            gunicorn("benchmarks.fortunes_app:app", env, ports["fortunes"]) as fortunes,
            gunicorn("benchmarks.minimal_app:app", env, ports["minimal"]) as minimal,
            gunicorn("app:app", env, ports["app"]) as blog,
        ):
            runs = {
                "fortunes": (fortunes, ports["fortunes"], ""),
                "minimal": (minimal, ports["minimal"], ""),
                "anonymous": (blog, ports["app"], ""),
                "signed_in": (blog, ports["app"], cookie),
            }
            for n in range(args.rounds):
                order = pages if n % 2 == 0 else tuple(reversed(pages))
                say(f"round {n + 1}/{args.rounds}: {' '.join(order)} ...")
                for name in order:
                    server, port, jar = runs[name]
                    results[name].append(
                        measure(server, port, args.seconds, args.connections, cookie=jar)
                    )
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        return 130
    finally:
        services.stop()
    return report(results)


def report(results: dict[str, list[dict[str, float]]]) -> int:
    med = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    labels = {
        "fortunes": "(f) fortunes: 12 rows, sorted, escaped",
        "minimal": "(m) minimal: 20 titles + a template",
        "anonymous": "(b) home page, anonymous",
        "signed_in": "(c) home page, signed in",
    }
    say("")
    say(f"{'page (median of rounds)':<42} {'req/s':>8} {'CPU ms/req':>11} {'app':>6} {'PG':>6}")
    say("-" * 78)
    for name, label in labels.items():
        m = med[name]
        cpu = f"{m['cpu_ms']:>11.2f} {m['app_ms']:>6.2f} {m['pg_ms']:>6.2f}"
        say(f"{label:<42} {m['rps']:>8,.0f} {cpu}")
    say("-" * 78)
    for name, runs in results.items():
        rounds = ", ".join(f"{r['rps']:,.0f}/{r['cpu_ms']:.2f}" for r in runs)
        say(f"rounds {name} (req/s / CPU ms): {rounds}")
    checks = [
        (
            "req/s  home anonymous / minimal",
            med["anonymous"]["rps"] / med["minimal"]["rps"],
            RATIO_TARGET,
        ),
        ("req/s  home signed in / minimal", med["signed_in"]["rps"] / med["minimal"]["rps"], None),
        (
            "CPU    fortunes / home anonymous",
            med["fortunes"]["cpu_ms"] / med["anonymous"]["cpu_ms"],
            CPU_TARGETS["anonymous"],
        ),
        (
            "CPU    fortunes / home signed in",
            med["fortunes"]["cpu_ms"] / med["signed_in"]["cpu_ms"],
            CPU_TARGETS["signed_in"],
        ),
        (
            "CPU    anonymous / signed in",
            med["anonymous"]["cpu_ms"] / med["signed_in"]["cpu_ms"],
            SIGNED_TARGET,
        ),
    ]
    missed = 0
    for label, value, target in checks:
        if target is None:
            say(f"{label:<36} {value:.2f}")
            continue
        ok = value >= target
        missed += not ok
        say(f"{label:<36} {value:.2f}  target >= {target:.2f}  {'PASS' if ok else 'FAIL'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
