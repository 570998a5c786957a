"""Mail at volume (issue 18 §6): notification email through one mail worker to a local SMTP
server, against that server's own accept rate.

    .venv/bin/python benchmarks/mail_volume.py [--messages 2000] [--before 200]

Not part of the test run. Uses the services of benchmarks/outbox_relay.py (embedded
PostgreSQL and Redis under var/bench/, or BENCH_DATABASE_URL / BENCH_REDIS_URL) and a
scratch database with the migrations applied. The SMTP sink is aiosmtpd (a development
dependency) on loopback, in this process's thread, counting what it accepts by (To, Subject).

  (a) baseline: the sink's own accept rate: a bare smtplib loop sending --messages messages
      of a notification's shape (text + HTML) over ONE connection, messages/s;
  (b) the product: --messages email notifications made in commits of 10 (10 people, one
      comment notice each commit, as the comment handler makes them, each commit's hook
      asking for a drain), then ONE real forking `flask worker -q mail` drains them:
      messages/s from the worker being up and the drain asked for to the last accepted
      message, and the check that each went exactly once; target >= 100 messages/s;
  (c) for reference, the per-message path it replaced: --before rows queued as one
      `deliver_notification_email` job each (one fork + one SMTP connection per message) on
      the same worker.

Loopback only; everything it starts is stopped on the way out. Exits 1 below the target or
if a message was lost or sent twice.
"""

from __future__ import annotations

import argparse
import os
import signal
import smtplib
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from email.message import EmailMessage
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from flask import Flask
from outbox_relay import BENCH_DIR, Services, flask_processes, say, wait_until
from rq import Worker
from sqlalchemy import select, update

from blog import create_app
from blog.auth.models import PURGED_PASSWORD, User
from blog.core.db import utcnow
from blog.extensions import db
from blog.jobs.queues import get_queue
from blog.notifications.jobs import (
    DRAIN_WANTED,
    MAIL_BATCH,
    drain_pending_emails,
    enqueue_deliveries,
    request_mail_drain,
)
from blog.notifications.models import Notification
from blog.notifications.services import Notice, notify_users

TARGET = 100.0  # messages/s
PEOPLE = 10


class Sink:
    """aiosmtpd on loopback, counting accepted messages by (To, Subject)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.seen: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
                head = envelope.content.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
                fields = dict(line.split(": ", 1) for line in head.split("\r\n") if ": " in line)
                with sink.lock:
                    sink.seen[(fields.get("To", ""), fields.get("Subject", ""))] += 1
                return "250 Message accepted for delivery"

        with socket.socket() as probe:  # a free port on loopback
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def count(self, prefix: str) -> int:
        with self.lock:
            return sum(n for (_to, subject), n in self.seen.items() if subject.startswith(prefix))

    def duplicates(self, prefix: str) -> int:
        with self.lock:
            return sum(
                n - 1 for (_to, subject), n in self.seen.items() if subject.startswith(prefix)
            )

    def stop(self) -> None:
        self.controller.stop()


def bench_baseline(sink: Sink, count: int) -> float:
    html = "<p>" + "A comment on your post. " * 20 + "</p>"
    client = smtplib.SMTP("127.0.0.1", sink.port, timeout=10)
    start = time.perf_counter()
    for n in range(count):
        message = EmailMessage()
        message["From"] = "Blog <noreply@example.com>"
        message["To"] = f"base{n % PEOPLE}@example.com"
        message["Subject"] = f"Baseline {n} · Blog"
        message.set_content("A comment on your post. " * 20)
        message.add_alternative(html, subtype="html")
        client.send_message(message)
    elapsed = time.perf_counter() - start
    client.quit()
    if sink.count("Baseline ") != count:
        raise SystemExit("the sink lost baseline messages")
    return count / elapsed


def _people(app: Flask) -> list[uuid.UUID]:
    with app.app_context():
        people = [
            User(
                email=f"mail{n}-{uuid.uuid4().hex[:6]}@example.com",
                user_name=f"mail{n}-{uuid.uuid4().hex[:6]}",
                password_hash=PURGED_PASSWORD,
                email_verified_at=utcnow(),
            )
            for n in range(PEOPLE)
        ]
        db.session.add_all(people)
        db.session.commit()
        return [p.id for p in people]


def _burst(app: Flask, people: list[uuid.UUID], count: int, prefix: str) -> None:
    with app.app_context():
        for n in range(count // PEOPLE):
            notify_users(
                people,
                Notice(kind="comment_on_post", title=f"{prefix}{n}", message="Nice", link="/"),
                event_id=uuid.uuid4(),
            )
            db.session.commit()
        db.session.remove()


def _pending(app: Flask) -> int:
    with app.app_context():
        n = db.session.scalar(
            select(db.func.count())
            .select_from(Notification)
            .where(Notification.type == "email", Notification.status == "pending")
        )
        db.session.remove()
        return int(n or 0)


def _mail_jobs(app: Flask) -> tuple[int, int]:
    with app.app_context():
        jobs = get_queue("mail").get_jobs()
    drains = sum(1 for j in jobs if j.func_name.endswith("drain_pending_emails"))
    return drains, len(jobs) - drains


def bench_batch(
    app: Flask,
    env: dict[str, str],
    sink: Sink,
    people: list[uuid.UUID],
    count: int,
    *,
    batch: int = 0,
) -> dict[str, Any]:
    _burst(app, people, count, "Batch ")
    drains, others = _mail_jobs(app)
    with app.app_context():  # drop the queued drains: the clock starts with the worker up
        queue = get_queue("mail")
        queue.empty()
        queue.connection.delete(DRAIN_WANTED)
    with flask_processes(env, ("mail-worker", ["worker", "-q", "mail"])):
        with app.app_context():
            if not wait_until(lambda: bool(Worker.all(queue=get_queue("mail"))), 60, 0.1):
                raise SystemExit(f"`flask worker` did not start: see {BENCH_DIR / 'logs'}")
            start = time.perf_counter()
            if batch:  # the drain job with another batch size, to compare
                queue.enqueue(drain_pending_emails, batch, job_timeout=600)
            else:
                request_mail_drain(queue)
        if not wait_until(lambda: sink.count("Batch ") >= count, 600, 0.01):
            raise SystemExit(f"only {sink.count('Batch ')} of {count} messages arrived")
        elapsed = time.perf_counter() - start
        wait_until(lambda: _pending(app) == 0, 30, 0.05)
        time.sleep(1.0)  # anything sent twice would arrive now
    return {
        "rate": count / elapsed,
        "seconds": elapsed,
        "drain_jobs": drains,
        "other_jobs": others,
        "pending": _pending(app),
        "duplicates": sink.duplicates("Batch "),
        "received": sink.count("Batch "),
    }


def bench_before(
    app: Flask, env: dict[str, str], sink: Sink, people: list[uuid.UUID], count: int
) -> float:
    with app.app_context():  # no drain for these: one job per message, as before
        queue = get_queue("mail")
    _burst(app, people, count, "Before ")
    with app.app_context():
        queue.empty()
        queue.connection.delete(DRAIN_WANTED)
        ids = [
            str(i)
            for i in db.session.scalars(
                select(Notification.id).where(
                    Notification.type == "email",
                    Notification.status == "pending",
                    Notification.title.like("Before %"),
                )
            )
        ]
        db.session.remove()
    with flask_processes(env, ("mail-worker-before", ["worker", "-q", "mail"])):
        with app.app_context():
            if not wait_until(lambda: bool(Worker.all(queue=get_queue("mail"))), 60, 0.1):
                raise SystemExit(f"`flask worker` did not start: see {BENCH_DIR / 'logs'}")
            start = time.perf_counter()
            enqueue_deliveries(get_queue("mail"), ids)
        if not wait_until(lambda: sink.count("Before ") >= count, 600, 0.01):
            raise SystemExit(f"only {sink.count('Before ')} of {count} per-message mails arrived")
        return count / (time.perf_counter() - start)


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--before", type=int, default=200, help="0 skips (c)")
    parser.add_argument(
        "--batch", type=int, default=0, help=f"rows per commit (default MAIL_BATCH={MAIL_BATCH})"
    )
    args = parser.parse_args(argv)

    sink = Sink()
    services = Services()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        sink.start()
        say("(a) the sink's own accept rate, one smtplib connection ...")
        baseline = bench_baseline(sink, args.messages)
        say("starting services ...")
        services.start()
        env = {**services.environ(), "BLOG_SMTP_URL": sink.url}
        app = create_app({"OUTBOX_TRIGGER_ON_COMMIT": False}, environ=env)
        import flask_migrate

        with app.app_context():
            flask_migrate.upgrade()
        people = _people(app)
        with app.app_context():  # no verification mail in the way
            db.session.execute(update(User).values(email_verified_at=utcnow()))
            db.session.commit()
        say(f"(b) {args.messages:,} notification emails, one `flask worker -q mail` ...")
        batch = bench_batch(app, env, sink, people, args.messages, batch=args.batch)
        before = 0.0
        if args.before:
            say(f"(c) {args.before:,} through the per-message job, for reference ...")
            before = bench_before(app, env, sink, people, args.before)
        with app.app_context():
            db.engine.dispose()
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        return 130
    finally:
        services.stop()
        sink.stop()

    ok = (
        batch["rate"] >= TARGET
        and batch["duplicates"] == 0
        and batch["received"] == args.messages
        and batch["pending"] == 0
    )
    print()
    print(f"(a) sink accept rate, bare smtplib, 1 connection : {baseline:8,.0f} msg/s (baseline)")
    print(
        f"(b) product: {args.messages:,} notifications, 1 mail worker: {batch['rate']:8,.0f} msg/s"
        f"  ratio {batch['rate'] / baseline:.2f}  ({batch['seconds']:.1f} s)"
    )
    print(
        f"    the burst's {args.messages // PEOPLE} commits queued {batch['drain_jobs']} drain"
        f" job(s) and {batch['other_jobs']} other mail job(s); received {batch['received']:,},"
        f" sent twice {batch['duplicates']}, left pending {batch['pending']}"
    )
    if args.before:
        print(f"(c) per-message job (before), {args.before:,} messages : {before:8,.1f} msg/s")
    print(f"rows per commit: {args.batch or MAIL_BATCH}")
    print(f"target >= {TARGET:.0f} msg/s: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
