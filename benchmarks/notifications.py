"""Notifications: fan-out throughput against RQ's empty jobs, and commit-to-badge latency.

    .venv/bin/python benchmarks/notifications.py [--followers 1000] [--posts 20]
                                                 [--rate 50] [--seconds 10]

Not part of the test run. Uses the services of benchmarks/outbox_relay.py (embedded
PostgreSQL and Redis under var/bench/, or BENCH_DATABASE_URL / BENCH_REDIS_URL), a scratch
database with the migrations applied, and measures in one run:

  (a) the baseline: empty RQ jobs (`time.sleep(0)`) drained by one real `flask worker`
      (RQ's forking worker, the reference the target was set against), jobs/s; and, for a
      like-for-like comparison, by one `flask worker --in-process` (no fork per job), the
      worker that serves `notifications` in production (blog/jobs/worker.py);
  (b) fan-out: an author with --followers followers publishes --posts posts; the relay
      enqueues one `post.published` handler job per post (as when each post is relayed on
      its own, minutes apart); one `flask worker --in-process -q notifications` drains them.
      Handler jobs/s (target: ratio to the forking worker's (a) >= 0.5; the ratio to the
      in-process (a) is printed too) and in-app notifications delivered per second (each job
      inserts a row per follower in one statement, then publishes the followers' badges in a
      few Redis messages). Then the same with the posts relayed together, which the relay
      makes one job (blog.outbox.relay.HANDLER_BATCH): posts/s, for information;
  (c) commit-to-badge latency: a websocket open on a real gunicorn web process for one user;
      `comment.created` events for that user's post committed at --rate events/s for
      --seconds, with the after-commit relay trigger and the processes of `make run`:
      --workers `flask worker --in-process -q outbox,notifications`, one forking
      `flask worker --nice 10 -q mail,default` (--nice) and `flask cron`; the comments'
      emails go to a mail sink on loopback. Latency = socket receipt - commit,
      matched by a marker in the toast. Target: p99 <= 1 s.

Loopback and unix sockets only; everything it starts is stopped on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import simple_websocket
from flask import Flask
from outbox_relay import (
    BENCH_DIR,
    PROJECT_ROOT,
    Services,
    flask_processes,
    percentile,
    say,
    wait_until,
)
from rq import Worker
from rq.job import Job
from sqlalchemy import func, select, text

from blog import create_app
from blog.auth.models import PURGED_PASSWORD, User, UserSession
from blog.auth.sessions import new_token
from blog.core.db import utcnow
from blog.core.redis import get_redis
from blog.devmail.sink import MailSink
from blog.extensions import db
from blog.jobs.queues import FORKING_QUEUES, IN_PROCESS_QUEUES, get_queue
from blog.notifications.models import Follow, Notification
from blog.outbox import relay
from blog.outbox.events import emit
from blog.outbox.models import OutboxEvent
from blog.outbox.relay import relay_outbox
from blog.posts import services as posts

RATIO_TARGET = 0.5
MARKER = re.compile(r"bench-marker-([0-9a-f]{32})")
P99_TARGET_SECONDS = 1.0
EMPTY_JOBS = 500


def _user(n: int, **attrs: Any) -> User:
    user = User(
        email=f"bench{n}-{uuid.uuid4().hex[:6]}@example.com",
        user_name=f"bench{n}-{uuid.uuid4().hex[:6]}",
        password_hash=PURGED_PASSWORD,  # never signs in: the session row is made directly
        email_verified_at=utcnow(),
        **attrs,
    )
    db.session.add(user)
    return user


def wait_for_worker(app: Flask, queue_name: str) -> None:
    with app.app_context():
        queue = get_queue(queue_name)
    if not wait_until(lambda: bool(Worker.all(queue=queue)), 60, 0.1):
        raise SystemExit(f"`flask worker` did not start: see {BENCH_DIR / 'logs'}")


def bench_empty_jobs(app: Flask, env: dict[str, str], *, in_process: bool = False) -> float:
    """From the first enqueue until the worker has finished them all (worker already up)."""
    flags = ["--in-process"] if in_process else []
    name = "empty-worker-in-process" if in_process else "empty-worker"
    with flask_processes(env, (name, ["worker", *flags, "-q", "default"])):
        wait_for_worker(app, "default")
        with app.app_context():
            queue = get_queue("default")
            start = time.perf_counter()
            for _ in range(EMPTY_JOBS):
                queue.enqueue("time.sleep", 0, result_ttl=600)
            done = queue.finished_job_registry
            if not wait_until(lambda: done.count >= EMPTY_JOBS, 300, 0.02):
                raise SystemExit("empty jobs did not drain")
            return EMPTY_JOBS / (time.perf_counter() - start)


def _queued(app: Flask, name: str) -> int:
    with app.app_context():
        return int(get_queue(name).count)


def _author_with_followers(app: Flask, followers: int) -> uuid.UUID:
    with app.app_context():
        author = _user(0)
        fans = [_user(i + 1) for i in range(followers)]
        db.session.flush()
        db.session.add_all(Follow(follower_id=f.id, followed_id=author.id) for f in fans)
        db.session.commit()
        # Statistics, as autovacuum keeps them on a live database: without them the planner
        # takes the fresh tables for empty and joins followers by scanning every user.
        db.session.execute(text("ANALYZE users, follows, notification_preferences"))
        db.session.commit()
        return author.id


def bench_fan_out(
    app: Flask, env: dict[str, str], followers: int, count: int, *, one_by_one: bool
) -> dict[str, float]:
    """`count` posts by an author with `followers` followers, drained by one worker.

    one_by_one: the relay enqueues one handler job per post, as when an author's posts are
    relayed as each is published (minutes apart); otherwise it enqueues what the relay finds
    due together as one job (blog.outbox.relay.HANDLER_BATCH), as when they are relayed at once.
    """
    author_id = _author_with_followers(app, followers)

    def publish(n: int, label: str) -> None:
        with app.app_context():
            writer = db.session.get(User, author_id)
            for i in range(n):
                post = posts.create_post(
                    writer,
                    title=f"Benchmark post {label} {i}",
                    content="Benchmark text, long enough.",
                    tag_names=[],
                )
                posts.publish_post(post, actor=writer)
            db.session.commit()

    def relay_all() -> None:
        with app.app_context():
            saved = relay.HANDLER_BATCH
            if one_by_one:
                relay.HANDLER_BATCH = 1
            try:
                relay_outbox()  # enqueues the `post.published` handler jobs on `notifications`
            finally:
                relay.HANDLER_BATCH = saved

    fanout_worker = ["worker", "--in-process", "-q", "notifications"]
    with flask_processes(env, ("fanout-worker", fanout_worker)):
        wait_for_worker(app, "notifications")
        with app.app_context():
            done = get_queue("notifications").finished_job_registry
        # One post first, not timed: the worker is a long-running process, and its first job
        # pays for compiling statements and loading templates once.
        before = done.count
        publish(1, "warm-up")
        relay_all()
        if not wait_until(lambda: done.count > before, 120, 0.02):
            raise SystemExit("the warm-up job did not finish")
        publish(count, "timed")
        expected = followers * (count + 1)
        before = done.count
        jobs = count if one_by_one else -(-count // relay.HANDLER_BATCH)
        start = time.perf_counter()
        relay_all()

        # Polled in Redis, as (a) is: counting 20,000 rows every few ms would load the
        # database the jobs are measured on, and polling it slowly would add its period.
        if not wait_until(lambda: done.count - before >= jobs, 600, 0.02):
            raise SystemExit(f"fan-out jobs did not finish: {done.count - before} of {jobs}")
        elapsed = time.perf_counter() - start
        with app.app_context():
            timed = Job.fetch_many(done.get_job_ids()[-jobs:], connection=get_redis())
            in_job = [(j.ended_at - j.started_at).total_seconds() for j in timed if j]
            delivered = db.session.scalar(
                select(func.count())
                .select_from(Notification)
                .join(OutboxEvent, OutboxEvent.id == Notification.event_id)
                .where(
                    Notification.kind == "followed_author_posted",
                    OutboxEvent.event_data["author_id"].astext == str(author_id),
                )
            )
            db.session.remove()
        if (delivered or 0) < expected:
            raise SystemExit(f"fan-out incomplete: {delivered} of {expected} notifications")
    return {
        "jobs": jobs / elapsed,
        "events": count / elapsed,
        "notifications": followers * count / elapsed,
        "in_job": sum(in_job) / len(in_job) if in_job else float("nan"),
        "seconds": elapsed,
    }


def _gunicorn(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    log = (BENCH_DIR / "logs" / "gunicorn.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
        cwd=PROJECT_ROOT,
        env={**env, "PORT": str(port), "BLOG_WEB_WORKERS": "2", "BLOG_WEB_THREADS": "16"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def bench_latency(
    app: Flask, env: dict[str, str], port: int, rate: int, seconds: float
) -> dict[str, Any]:
    with app.app_context():
        owner, commenter = _user(900_001), _user(900_002)
        db.session.flush()
        post = posts.create_post(
            owner, title="Latency post", content="Benchmark text, long enough.", tag_names=[]
        )
        posts.publish_post(post, actor=owner)
        token, token_hash = new_token()
        db.session.add(
            UserSession(
                user_id=owner.id, token_hash=token_hash, expires_at=utcnow() + timedelta(hours=1)
            )
        )
        db.session.commit()
        post_id, owner_id, commenter_id = post.id, owner.id, commenter.id
    base = f"http://127.0.0.1:{port}"
    ws = simple_websocket.Client.connect(
        base.replace("http", "ws") + "/ws",
        headers={"Cookie": f"blog_session={token}", "Origin": base},
    )
    received: dict[str, float] = {}
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            with contextlib.suppress(simple_websocket.ConnectionClosed):
                message = ws.receive(timeout=0.2)
                # One message may carry several toasts (a batch of events for one person).
                if message and "bench-marker-" in message:
                    at = time.time()
                    for marker in MARKER.findall(message):
                        received.setdefault(marker, at)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    committed: dict[str, float] = {}
    interval = 1.0 / rate
    start = time.perf_counter()
    n = 0
    with app.app_context():
        while time.perf_counter() - start < seconds:
            marker = uuid.uuid4().hex
            emit(
                "comment.created",
                aggregate_type="post",
                aggregate_id=post_id,
                data={
                    "comment_id": str(uuid.uuid4()),
                    "post_id": str(post_id),
                    "post_author_id": str(owner_id),
                    "author_id": str(commenter_id),
                    "mentions": [],
                    "excerpt": f"bench-marker-{marker}",
                },
            )
            db.session.commit()
            committed[marker] = time.time()
            n += 1
            delay = start + n * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        achieved = n / (time.perf_counter() - start)
    wait_until(lambda: len(received) >= len(committed), 30, 0.1)
    stop.set()
    listener.join(2)
    ws.close()
    latencies = [received[m] - t for m, t in committed.items() if m in received]
    return {
        "latencies": latencies,
        "sent": len(committed),
        "achieved": achieved,
        **_stages(app, owner_id),
    }


def _stages(app: Flask, owner_id: uuid.UUID) -> dict[str, list[float]]:
    """Where the time went: event committed -> relayed -> the handler's transaction began."""
    with app.app_context():
        relayed = db.session.execute(
            text(
                "SELECT extract(epoch FROM published_at - occurred_at) FROM domain_event_outbox "
                "WHERE event_type = 'comment.created' AND published_at IS NOT NULL"
            )
        ).scalars()
        handled = db.session.execute(
            text(
                "SELECT extract(epoch FROM n.created_at - e.occurred_at) FROM notifications n "
                "JOIN domain_event_outbox e ON e.id = n.event_id "
                "WHERE n.user_id = :u AND n.type = 'websocket'"
            ),
            {"u": owner_id},
        ).scalars()
        stages = {"relayed": [float(x) for x in relayed], "handled": [float(x) for x in handled]}
        db.session.remove()
    return stages


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--events",
        action="append",
        metavar="QUEUES",
        help="one `flask worker --in-process -q QUEUES` for (c), repeatable "
        "(default: one on outbox,notifications, as make run)",
    )
    parser.add_argument("--latency-only", action="store_true", help="skip (a) and (b)")
    parser.add_argument("--fan-out-only", action="store_true", help="skip (c)")
    parser.add_argument(
        "--nice", type=int, default=10, help="the forking worker's --nice in (c), as make run"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    services = Services()
    signal.signal(signal.SIGTERM, _interrupt)
    web: subprocess.Popen[bytes] | None = None
    sink: MailSink | None = None
    try:
        say("starting services ...")
        services.start()
        (BENCH_DIR / "logs").mkdir(parents=True, exist_ok=True)
        port = int(os.environ.get("BENCH_PORT", "8765"))
        # Mail goes to a sink on loopback, as under `make run`: the comments' emails are
        # delivered (not failed and retried) by the forking worker meanwhile.
        sink = MailSink(BENCH_DIR / "mail")
        sink.start()
        env = {
            **services.environ(),
            "BLOG_SITE_URL": f"http://127.0.0.1:{port}",
            "BLOG_SMTP_URL": sink.url,
        }
        app = create_app({"OUTBOX_TRIGGER_ON_COMMIT": False}, environ=env)
        import flask_migrate

        with app.app_context():
            flask_migrate.upgrade()
        empty, empty_in_process, fan_out, fan_out_batched = run_fan_out(app, env, args)
        latency: dict[str, Any] = {"latencies": [], "sent": 0, "relayed": [], "handled": []}
        if args.fan_out_only:
            return report(args, empty, empty_in_process, fan_out, fan_out_batched, latency=latency)
        say(f"(c) commit-to-badge latency at {args.rate} events/s for {args.seconds:g} s ...")
        web = _gunicorn(env, port)
        trigger_app = create_app(environ=env)  # the after-commit relay trigger on, as in the app
        events = args.events or [",".join(IN_PROCESS_QUEUES)]
        workers = [
            (f"events-{i}", ["worker", "--in-process", "-q", queues])
            for i, queues in enumerate(events)
        ]
        background = ["worker", "--nice", str(args.nice), "-q", ",".join(FORKING_QUEUES)]
        workers.append(("worker", background))
        with flask_processes(env, *workers, ("cron", ["cron"])):
            wait_for_worker(app, "notifications")
            if not wait_until(lambda: _answers(port), 30, 0.2):
                raise SystemExit("gunicorn did not start")
            latency = bench_latency(trigger_app, env, port, args.rate, args.seconds)
        with app.app_context():
            db.engine.dispose()
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        return 130
    finally:
        if web is not None and web.poll() is None:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(20)
        if sink is not None:
            sink.stop()
        services.stop()

    return report(args, empty, empty_in_process, fan_out, fan_out_batched, latency=latency)


def run_fan_out(
    app: Flask, env: dict[str, str], args: argparse.Namespace
) -> tuple[float, float, dict[str, float], dict[str, float]]:
    """(a) and (b): the empty-job baselines, then the fan-out a job per post and batched."""
    nothing = dict.fromkeys(("jobs", "events", "notifications", "in_job"), float("nan"))
    if args.latency_only:
        return float("nan"), float("nan"), nothing, nothing
    say(f"(a) {EMPTY_JOBS} empty RQ jobs through one `flask worker` ...")
    empty = bench_empty_jobs(app, env)
    say(f"(a) {EMPTY_JOBS} empty RQ jobs through one `flask worker --in-process` ...")
    empty_in_process = bench_empty_jobs(app, env, in_process=True)
    say(f"(b) {args.posts} posts by an author with {args.followers:,} followers, a job each ...")
    fan_out = bench_fan_out(app, env, args.followers, args.posts, one_by_one=True)
    say(f"(b) the same, the {args.posts} posts relayed together ...")
    fan_out_batched = bench_fan_out(app, env, args.followers, args.posts, one_by_one=False)
    return empty, empty_in_process, fan_out, fan_out_batched


def report(
    args: argparse.Namespace,
    empty: float,
    empty_in_process: float,
    fan_out: dict[str, float],
    fan_out_batched: dict[str, float],
    *,
    latency: dict[str, Any],
) -> int:
    ratio = fan_out["jobs"] / empty
    ratio_in_process = fan_out["jobs"] / empty_in_process
    lat = latency["latencies"]
    p50 = percentile(lat, 50) if lat else float("inf")
    p99 = percentile(lat, 99) if lat else float("inf")
    verdict = {True: "PASS", False: "FAIL"}
    rows = [
        ("(a) empty RQ jobs, one `flask worker`", f"{empty:,.1f} jobs/s", "baseline (forking)"),
        ("(a) empty RQ jobs, `--in-process`", f"{empty_in_process:,.1f} jobs/s", "no fork"),
        (
            "(b) fan-out handler jobs, one worker",
            f"{fan_out['jobs']:,.1f} jobs/s",
            f"ratio {ratio:.2f} (in-process: {ratio_in_process:.2f})",
        ),
        (
            "(b) time in one job, mean",
            f"{fan_out['in_job'] * 1000:,.1f} ms",
            "RQ's started_at..ended_at",
        ),
        (
            "(b) in-app notifications delivered",
            f"{fan_out['notifications']:,.0f} /s",
            f"{args.followers:,} followers a post",
        ),
        (
            f"(b) relayed together: {args.posts} posts",
            f"{fan_out_batched['events']:,.1f} posts/s",
            f"{fan_out_batched['jobs']:,.1f} jobs/s; per post / (a): "
            f"{fan_out_batched['events'] / empty:.2f}",
        ),
        (
            f"(c) commit-to-badge p50 / p99, {len(lat)}/{latency['sent']} seen",
            f"{p50 * 1000:,.0f} / {p99 * 1000:,.0f} ms",
            "",
        ),
        ("(c) offered load achieved", f"{latency.get('achieved', 0):,.1f} /s", ""),
        (
            "(c) commit -> relayed, p50 / p99",
            _ms(latency["relayed"]),
            "published_at - occurred_at",
        ),
        ("(c) commit -> handler began, p50 / p99", _ms(latency["handled"]), "its transaction"),
    ]
    say("")
    say(f"{'measure':<46} {'figure':>18}  note")
    say("-" * 92)
    for name, figure, note in rows:
        say(f"{name:<46} {figure:>18}  {note}")
    say("-" * 92)
    say(
        f"jobs/s ratio >= {RATIO_TARGET}: {ratio:.2f} {verdict[ratio >= RATIO_TARGET]}; "
        f"p99 <= {P99_TARGET_SECONDS:g} s: {p99:.3f} s {verdict[p99 <= P99_TARGET_SECONDS]}"
    )
    if args.fan_out_only:
        return 0 if ratio >= RATIO_TARGET else 1
    ok = ratio >= RATIO_TARGET and p99 <= P99_TARGET_SECONDS and len(lat) == latency["sent"]
    return 0 if ok else 1


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 50) * 1000:,.0f} / {percentile(values, 99) * 1000:,.0f} ms"


def _answers(port: int) -> bool:
    import urllib.request

    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
    except OSError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
