"""Outbox relay: throughput against raw Redis, and commit-to-publish latency (DESIGN.md §2).

    .venv/bin/python benchmarks/outbox_relay.py [--events 20000] [--rate 200] [--seconds 10]

Not part of the test run. Starts an embedded PostgreSQL and Redis under var/bench/ (or uses
BENCH_DATABASE_URL, whose server gets a scratch database, and BENCH_REDIS_URL, which must be a
scratch Redis database: it is flushed at the start and the end), creates a scratch database,
applies the migrations, and measures in one run:

  (a) the baseline: raw pipelined XADD into the same Redis (pipelines of 500), median of 3;
  (b) relay throughput: N events inserted in batches (no after-commit trigger), then
      relay_outbox() run until all are published: in this process, with no handler and with
      one handler per event (one RQ job enqueued each), and through a real `flask worker -q
      outbox` subprocess; also with a history of published events in the table (kept 30
      days). The in-process, no-handler figure (median of 3) is the one held to the target:
      relay / XADD >= 0.25;
  (c) commit-to-publish latency: one event per transaction at --rate events/s for --seconds,
      after-commit trigger on, a real `flask worker -q outbox` and `flask cron` (the 5 s
      sweep). Latency = published_at - occurred_at from the table (and, as a cross-check, the
      XADD time in the stream entry's id - occurred_at). Target: p99 <= 1 s.

Loopback and unix sockets only; every loop is bounded; everything it starts (subprocesses,
embedded servers, the scratch database) is stopped or dropped on the way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

import psutil  # noqa: E402
import psycopg2  # noqa: E402
from flask import Flask  # noqa: E402
from psycopg2 import sql  # noqa: E402
from redis import Redis  # noqa: E402
from rq import Worker  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from blog import create_app  # noqa: E402
from blog.core.embedded import EmbeddedPostgres, EmbeddedRedis, die_with_parent  # noqa: E402
from blog.core.redis import get_redis  # noqa: E402
from blog.extensions import db  # noqa: E402
from blog.jobs.queues import get_queue  # noqa: E402
from blog.outbox.events import emit  # noqa: E402
from blog.outbox.models import OutboxEvent  # noqa: E402
from blog.outbox.registry import Message, handles  # noqa: E402
from blog.outbox.relay import STREAM, relay_outbox  # noqa: E402

BENCH_DIR = PROJECT_ROOT / "var" / "bench"
XADD_TOTAL = 20_000
PIPELINE = 500
INSERT_BATCH = 1_000
RATIO_TARGET = 0.25
P99_TARGET_SECONDS = 1.0
WAIT_LIMIT_SECONDS = 120  # no single wait in this script lasts longer
UNHANDLED = "bench.happened"  # no handler: the relay only XADDs
HANDLED = "bench.handled"  # one handler: the relay XADDs and enqueues one RQ job


@handles(HANDLED, queue="default")
def bench_noop(message: Message) -> None:
    """Registered in this process only; its jobs are enqueued, never run."""


def say(message: str) -> None:
    print(message, flush=True)


def wait_until(condition: Callable[[], bool], seconds: float, poll: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --------------------------------------------------------------------------- services


class Services:
    """PostgreSQL and Redis (embedded unless BENCH_* URLs are given) and a scratch database."""

    def __init__(self) -> None:
        self.pg: EmbeddedPostgres | None = None
        self.redis_server: EmbeddedRedis | None = None
        self.database_url = ""
        self.redis_url = ""
        self._admin_url = ""
        self._database = f"blog_bench_{os.getpid()}"

    def start(self) -> None:
        external_db = os.environ.get("BENCH_DATABASE_URL")
        if external_db:
            parts = urlsplit(external_db)
            self._admin_url = urlunsplit(parts._replace(path="/postgres"))
            self.database_url = urlunsplit(parts._replace(path="/" + self._database))
        else:
            self.pg = EmbeddedPostgres(BENCH_DIR / "pg")
            self.pg.start()
            self._admin_url = self.pg.url("postgres")
            self.database_url = self.pg.url(self._database)
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self._database)))

        self.redis_url = os.environ.get("BENCH_REDIS_URL", "")
        if not self.redis_url:
            # No AOF: the baseline and the relay write to the same Redis, so the ratio is fair.
            self.redis_server = EmbeddedRedis(BENCH_DIR / "redis", persist=False)
            self.redis_server.start()
            self.redis_url = self.redis_server.url(0)
        Redis.from_url(self.redis_url).flushdb()

    def _admin(self, statement: sql.Composable) -> None:
        conn = psycopg2.connect(self._admin_url.replace("+psycopg2", ""))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            Redis.from_url(self.redis_url).flushdb()
        if self.database_url:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            with contextlib.suppress(psycopg2.Error):
                self._admin(drop.format(sql.Identifier(self._database)))
        if self.redis_server is not None:
            self.redis_server.stop()
        if self.pg is not None:
            self.pg.stop()

    def environ(self) -> dict[str, str]:
        return {
            "BLOG_ENV": "testing",  # a throwaway secret key, and nothing written under var/
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "BLOG_LOG_LEVEL": "WARNING",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }


class FlaskProcess:
    """`flask worker ...` or `flask cron` as a subprocess, in its own process group."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log_dir = BENCH_DIR / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", *args],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets PDEATHSIG
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            # The horse runs in a process group of its own (field notes): collect it first.
            family: list[psutil.Process] = []
            with contextlib.suppress(psutil.Error):
                family = psutil.Process(self.proc.pid).children(recursive=True)
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            for child in family:
                with contextlib.suppress(psutil.Error):
                    child.kill()


@contextlib.contextmanager
def flask_processes(env: dict[str, str], *specs: tuple[str, list[str]]) -> Iterator[None]:
    processes: list[FlaskProcess] = []
    try:
        for name, args in specs:
            processes.append(FlaskProcess(name, args, env))
        yield
    finally:
        for process in processes:
            process.stop()


def wait_for_outbox_worker(app: Flask) -> None:
    with app.app_context():
        queue = get_queue("outbox")
    if not wait_until(lambda: bool(Worker.all(queue=queue)), 60, 0.1):
        raise SystemExit(f"`flask worker -q outbox` did not start: see {BENCH_DIR / 'logs'}")


# --------------------------------------------------------------------------- measurements


def bench_xadd(app: Flask) -> float:
    """Raw pipelined XADD of entries shaped like the relay's: the median of three runs."""
    with app.app_context():
        redis = get_redis()
    fields = {
        "id": str(uuid.uuid4()),
        "type": UNHANDLED,
        "aggregate_type": "bench",
        "aggregate_id": "aggregate-0042",
        "position": 123456,
        "occurred_at": datetime.now(UTC).isoformat(),
        "data": json.dumps({"n": 1}),
    }
    rates = []
    for _ in range(3):
        redis.delete("bench:xadd")
        start = time.perf_counter()
        for _batch in range(XADD_TOTAL // PIPELINE):
            with redis.pipeline(transaction=False) as pipe:
                for _ in range(PIPELINE):
                    pipe.xadd("bench:xadd", fields, maxlen=100_000, approximate=True)
                pipe.execute()
        rates.append(XADD_TOTAL / (time.perf_counter() - start))
    redis.delete("bench:xadd")
    return statistics.median(rates)


def insert_events(
    app: Flask, count: int, event_type: str, published_at: datetime | None = None
) -> None:
    """Batched inserts, no trigger: the backlog a relay finds after an outage (or, with
    `published_at`, the history of published events the table keeps for 30 days).

    The table's statistics are those of normal operation, taken before: history, nothing
    pending. A backlog arrives faster than autovacuum re-analyses the table, and a plan
    chosen for "nothing pending" is what the relay gets after an outage.
    """
    with app.app_context():
        for start in range(0, count, INSERT_BATCH):
            rows = [
                {
                    "event_type": event_type,
                    "aggregate_type": "bench",
                    "aggregate_id": f"aggregate-{n % 100:04d}",
                    "event_data": {"n": n},
                    "published_at": published_at,
                }
                for n in range(start, min(count, start + INSERT_BATCH))
            ]
            db.session.execute(insert(OutboxEvent), rows)
            db.session.commit()
        if published_at is not None:
            analyze(app)
        db.session.remove()


def analyze(app: Flask) -> None:
    with app.app_context():
        db.session.execute(text("ANALYZE domain_event_outbox"))  # as autovacuum would
        db.session.commit()


def pending(app: Flask) -> int:
    with app.app_context():
        try:
            return int(
                db.session.scalar(select(func.count()).where(OutboxEvent.published_at.is_(None)))
                or 0
            )
        finally:
            db.session.remove()


def reset(app: Flask) -> None:
    with app.app_context():
        db.session.execute(text("TRUNCATE domain_event_outbox, outbox_handler_runs"))
        db.session.commit()
        db.session.execute(text("ANALYZE domain_event_outbox"))  # normal state: none pending
        db.session.commit()
        db.session.remove()
        get_redis().flushdb()


def bench_relay_in_process(app: Flask, count: int, event_type: str, history: int = 0) -> float:
    reset(app)
    if history:
        insert_events(app, history, event_type, published_at=datetime.now(UTC))
    insert_events(app, count, event_type)
    with app.app_context():
        start = time.perf_counter()
        published = 0
        for _ in range(count // 500 + 10):  # bounded: relay_outbox() drains all in one call
            published += relay_outbox()
            if published >= count:
                break
        elapsed = time.perf_counter() - start
        db.session.remove()
    if pending(app):
        raise SystemExit(f"the relay left {pending(app)} events unpublished")
    return count / elapsed


def bench_relay_worker(app: Flask, env: dict[str, str], count: int) -> float:
    """The same backlog, published by one relay job in a real `flask worker -q outbox`."""
    reset(app)
    with flask_processes(env, ("throughput-worker", ["worker", "-q", "outbox"])):
        wait_for_outbox_worker(app)
        insert_events(app, count, UNHANDLED)
        start = time.perf_counter()
        with app.app_context():
            get_queue("outbox").enqueue("blog.outbox.relay.relay_outbox", job_timeout=600)
        if not wait_until(lambda: pending(app) == 0, WAIT_LIMIT_SECONDS, 0.02):
            raise SystemExit(f"the worker left {pending(app)} events unpublished")
        return count / (time.perf_counter() - start)


def bench_latency(app: Flask, env: dict[str, str], rate: int, seconds: float) -> dict[str, Any]:
    """One event per transaction at `rate`/s, trigger on, real worker and cron."""
    reset(app)
    app.config["OUTBOX_TRIGGER_ON_COMMIT"] = True
    total = int(rate * seconds)
    rng = random.Random(7)  # noqa: S311 - picks aggregates, not secrets
    try:
        with flask_processes(
            env, ("latency-worker", ["worker", "-q", "outbox"]), ("latency-cron", ["cron"])
        ):
            wait_for_outbox_worker(app)
            behind = 0.0
            with app.app_context():
                start = time.monotonic()
                for n in range(total):
                    emit(
                        UNHANDLED,
                        aggregate_type="bench",
                        aggregate_id=f"aggregate-{rng.randrange(100):04d}",
                        data={"n": n},
                    )
                    db.session.commit()  # the after-commit hook triggers the relay
                    delay = start + (n + 1) / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    else:
                        behind = max(behind, -delay)
                produced_in = time.monotonic() - start
                db.session.remove()
            if not wait_until(lambda: pending(app) == 0, 30, 0.05):
                raise SystemExit(f"latency run: {pending(app)} events never published")
    finally:
        app.config["OUTBOX_TRIGGER_ON_COMMIT"] = False

    with app.app_context():
        rows = db.session.execute(
            select(OutboxEvent.id, OutboxEvent.occurred_at, OutboxEvent.published_at)
        ).all()
        entries = get_redis().xrange(STREAM)
        db.session.remove()
    table = [(published - occurred).total_seconds() for _id, occurred, published in rows]
    occurred_at = {str(event_id): occurred for event_id, occurred, _published in rows}
    xadd_at: dict[str, float] = {}
    for entry_id, fields in entries:  # the first XADD of each event; its id is Redis's clock
        xadd_at.setdefault(fields[b"id"].decode(), int(entry_id.split(b"-")[0]) / 1000)
    stream = [xadd_at[i] - occurred_at[i].timestamp() for i in occurred_at if i in xadd_at]
    return {
        "events": total,
        "achieved_rate": total / produced_in,
        "max_behind": behind,
        "table": table,
        "stream": stream,
    }


# --------------------------------------------------------------------------- report


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--history", type=int, default=200_000, help="published events already in the table"
    )
    args = parser.parse_args(argv)

    services = Services()
    # SIGTERM unwinds like Ctrl-C, through the finally blocks that stop what we started.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        say("starting services ...")
        services.start()
        env = services.environ()
        app = create_app({"OUTBOX_TRIGGER_ON_COMMIT": False}, environ=env)
        import flask_migrate

        with app.app_context():
            flask_migrate.upgrade()
        say("(a) raw pipelined XADD ...")
        xadd = bench_xadd(app)
        say(f"(b) relay of {args.events:,} events, in process ...")
        # Medians of three, like the baseline: this machine's figures swing between runs.
        relay = statistics.median(
            bench_relay_in_process(app, args.events, UNHANDLED) for _ in range(3)
        )
        relay_handled = bench_relay_in_process(app, args.events, HANDLED)
        say(f"(b) ... with {args.history:,} published events in the table ...")
        relay_history = bench_relay_in_process(app, args.events, UNHANDLED, args.history)
        say("(b) ... through `flask worker -q outbox` ...")
        relay_worker = bench_relay_worker(app, env, args.events)
        say(f"(c) latency at {args.rate} events/s for {args.seconds:g} s ...")
        latency = bench_latency(app, env, args.rate, args.seconds)
        with app.app_context():
            db.engine.dispose()
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        return 130
    finally:
        services.stop()

    ratio = relay / xadd
    p50, p99 = percentile(latency["table"], 50), percentile(latency["table"], 99)
    s50, s99 = percentile(latency["stream"], 50), percentile(latency["stream"], 99)
    verdict = {True: "PASS", False: "FAIL"}
    rows = [
        ("(a) raw pipelined XADD (pipelines of 500)", f"{xadd:,.0f} /s", "baseline"),
        ("(b) relay, in process, no handler", f"{relay:,.0f} /s", f"ratio {ratio:.2f}"),
        (
            f"(b) same, {args.history:,} published in table",
            f"{relay_history:,.0f} /s",
            f"ratio {relay_history / xadd:.2f}",
        ),
        (
            "(b) relay, in process, 1 handler job/event",
            f"{relay_handled:,.0f} /s",
            f"ratio {relay_handled / xadd:.2f}",
        ),
        (
            "(b) relay, `flask worker -q outbox`",
            f"{relay_worker:,.0f} /s",
            f"ratio {relay_worker / xadd:.2f}",
        ),
        (
            f"(c) latency p50 / p99, {latency['events']:,} events",
            f"{p50 * 1000:,.0f} / {p99 * 1000:,.0f} ms",
            "published_at - occurred_at",
        ),
        ("(c) same, XADD time (stream id)", f"{s50 * 1000:,.0f} / {s99 * 1000:,.0f} ms", ""),
        (
            "(c) offered load achieved",
            f"{latency['achieved_rate']:,.0f} /s",
            f"max {latency['max_behind'] * 1000:.0f} ms behind schedule",
        ),
    ]
    say("")
    say(f"{'measure':<46} {'figure':>18}  note")
    say("-" * 92)
    for name, figure, note in rows:
        say(f"{name:<46} {figure:>18}  {note}")
    say("-" * 92)
    say(
        f"relay / XADD >= {RATIO_TARGET}: {ratio:.2f} {verdict[ratio >= RATIO_TARGET]}; "
        f"p99 <= {P99_TARGET_SECONDS:g} s: {p99:.3f} s {verdict[p99 <= P99_TARGET_SECONDS]}"
    )
    return 0 if ratio >= RATIO_TARGET and p99 <= P99_TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
