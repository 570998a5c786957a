"""Fault test: the outbox keeps its promises while its machinery is killed (DESIGN.md §2).

2,000 events are produced over ~10 s across 40 aggregates while the relay's worker and its work
horse are SIGKILLed three times and Redis is restarted once. Afterwards every event is
published (within 30 s of the last fault), the idempotent test handler's table holds each
event exactly once, and in the stream `blog:events` the first occurrence of each aggregate's
events comes in the order they were committed. Re-relayed duplicates in the stream are allowed
(delivery is at least once); lost events and duplicate effects are not.

Everything runs for real: the relay's worker is `flask worker -q outbox` (a forking RQ worker),
handler jobs run in a `flask worker -q default` plus a non-forking helper (for speed), against
PostgreSQL and a Redis of the test's own with an append-only file, so a graceful restart keeps
queued jobs. `pytest -s` prints the timings.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from flask import Flask

from blog.extensions import db
from blog.outbox.events import emit
from blog.outbox.relay import STREAM
from tests.outbox.faults import (
    FLASK_WORKER,
    HANDLER_MODULE,
    ServiceRun,
    WorkerProcess,
    count,
    query,
    sweep_outbox_every,
    wait_for,
)

N_EVENTS = 2_000
N_AGGREGATES = 40
EVENTS_PER_SECOND = 200  # 2,000 events in ~10 s
# Seconds after production starts: three kills of the relay's worker and one Redis restart.
# Each fault first waits (up to AIM_SECONDS) for a relay to be mid-publish, and lands there.
FAULTS = ((1.5, "kill"), (4.0, "kill"), (6.0, "restart-redis"), (7.5, "kill"))
AIM_SECONDS = 4.0
REDIS_DOWN_SECONDS = 0.2  # shorter than the first backoff (1 s): the relay resumes meanwhile
DRAIN_SECONDS = 30  # the requirement: everything published within 30 s of the last fault
EFFECTS_SECONDS = 60  # handler jobs trail the relay: 2,000 jobs at a few dozen per second
SWEEP_EVERY = 2.0  # what `flask cron` does every 5 s in production, a little more eagerly

# Runs handler jobs without forking (see the module): `flask worker` alone does ~14 handler
# jobs/s on these 2-core machines, and 2,000 of them would not fit in the time budget.
INPROCESS_WORKER = (sys.executable, "-m", "tests.outbox.inprocess_worker")

pytestmark = pytest.mark.timeout(100)  # the whole test, services and all, stops by itself


# --------------------------------------------------------------------------- load and probes


def _produce(app, errors: list[BaseException], done: threading.Event) -> None:
    """Emit the events in small transactions, paced; each commit triggers the relay.

    One thread writes every aggregate, so each aggregate's `seq` order is its commit order.
    """
    rng = random.Random(20261101)
    seqs: dict[str, int] = defaultdict(int)
    try:
        with app.app_context():
            start = time.monotonic()
            emitted = 0
            while emitted < N_EVENTS:
                for _ in range(min(rng.randint(1, 4), N_EVENTS - emitted)):
                    aggregate = f"agg-{rng.randrange(N_AGGREGATES):02d}"
                    seqs[aggregate] += 1
                    emit(
                        "test.recorded",
                        aggregate_type="fault",
                        aggregate_id=aggregate,
                        data={"seq": seqs[aggregate]},
                    )
                    emitted += 1
                db.session.commit()  # the after-commit hook enqueues a relay (best effort)
                delay = start + emitted / EVENTS_PER_SECOND - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            db.session.remove()
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which fails on it
        errors.append(exc)
    finally:
        done.set()


def _relay_publishing(app) -> bool:
    """Whether a relay is between its claim and its commit: it holds the claimed rows
    (FOR UPDATE) while it talks to Redis. A kill here leaves events published but unmarked."""
    rows = query(
        app,
        "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.relation = 'domain_event_outbox'::regclass AND l.mode = 'RowShareLock'"
        " AND a.state = 'idle in transaction'",
    )
    return bool(rows)


# --------------------------------------------------------------------------- the run


class FaultRun(ServiceRun):
    """The run's Redis (with an append-only file), its workers, the producer and the sweep."""

    def __init__(self, app: Flask, tmp_path: Path) -> None:
        super().__init__(app, tmp_path, persist_redis=True)
        self.relay_worker: WorkerProcess | None = None
        self.produced = threading.Event()
        self.errors: list[BaseException] = []
        self.horses_killed = 0
        self.kills_before_commit = 0
        self.stranded: set[str] = set()

    def start_workers(self) -> None:
        # The relay's worker (killed below) and the handlers' workers (left alone).
        self.relay_worker = self.start_worker("outbox-1", (*FLASK_WORKER, "-q", "outbox"))
        self.start_worker("default", (*FLASK_WORKER, "-q", "default"))
        self.start_worker("default-inprocess", (*INPROCESS_WORKER, "default"))
        self.wait_until_registered()

    def start_load(self) -> None:
        self.t0 = time.monotonic()
        self.start_thread(_produce, self.app, self.errors, self.produced)
        self.start_thread(sweep_outbox_every, self.app, SWEEP_EVERY, self.stop_threads)

    def kill_relay_worker(self) -> None:
        """SIGKILL the relay's worker and its horse; start a replacement.

        Aimed at the worst moment: the relay's MULTI/EXEC has landed in Redis (the stream
        grew) but its transaction has not committed, so its events are published again later.
        """
        worker = self.relay_worker
        assert worker is not None
        horse = self._aim_after_publish(worker)
        self.horses_killed += worker.sigkill(horse)
        # Did it land before the commit? Then events are in the stream but not marked.
        stranded = self._in_stream_unmarked()
        self.kills_before_commit += bool(stranded - self.stranded)
        self.stranded = stranded
        name = f"outbox-{len(self.workers) - 1}"
        self.relay_worker = self.start_worker(name, (*FLASK_WORKER, "-q", "outbox"))

    def _in_stream_unmarked(self) -> set[str]:
        in_stream = {fields[b"id"].decode() for _id, fields in self.redis.xrange(STREAM)}
        published = query(
            self.app, "SELECT id::text FROM domain_event_outbox WHERE published_at IS NOT NULL"
        )
        return in_stream - {row[0] for row in published}

    def _aim_after_publish(self, worker: WorkerProcess) -> int | None:
        deadline = time.monotonic() + AIM_SECONDS
        while time.monotonic() < deadline:
            horses = worker.horses()
            if horses and _relay_publishing(self.app):
                length = self.redis.xlen(STREAM)
                until = min(deadline, time.monotonic() + 0.5)
                while time.monotonic() < until:
                    if self.redis.xlen(STREAM) > length:
                        return horses[0]
            time.sleep(0.002)
        return None  # no luck: kill wherever the relay is

    def restart_redis(self) -> None:
        """Stop Redis gracefully mid-publish (the append-only file keeps the jobs); start it."""
        wait_for(lambda: _relay_publishing(self.app), AIM_SECONDS, poll=0.002)
        self.redis_server.stop()
        time.sleep(REDIS_DOWN_SECONDS)
        self.redis_server.start()


def test_relay_survives_killed_workers_and_a_redis_restart(app, effects_table, tmp_path):
    assert HANDLER_MODULE in app.config["OUTBOX_EXTRA_HANDLER_MODULES"]
    run = FaultRun(app, tmp_path)
    try:
        run.start_workers()
        run.start_load()
        for n, (at, fault) in enumerate(FAULTS, start=1):
            time.sleep(max(0.0, run.t0 + at - time.monotonic()))
            if fault == "kill":
                run.kill_relay_worker()
            else:
                run.restart_redis()
            last_fault = run.mark(f"fault {n} ({fault})")

        assert run.produced.wait(30), "the producer did not finish"
        assert not run.errors, f"the producer failed: {run.errors[0]!r}"
        run.mark("produced")
        app = run.app
        assert count(app, "SELECT count(*) FROM domain_event_outbox") == N_EVENTS

        published = wait_for(
            lambda: (
                count(app, "SELECT count(*) FROM domain_event_outbox WHERE published_at IS NULL")
                == 0
            ),
            run.t0 + last_fault + DRAIN_SECONDS - time.monotonic(),
        )
        published_at = run.mark("all published")
        parked = count(app, "SELECT count(*) FROM domain_event_outbox WHERE parked_at IS NOT NULL")
        assert published, (
            f"events unpublished {DRAIN_SECONDS} s after the last fault ({parked} parked)\n"
            + run.logs()
        )
        handled = wait_for(
            lambda: count(app, "SELECT count(DISTINCT event_id) FROM test_effects") >= N_EVENTS,
            run.t0 + last_fault + EFFECTS_SECONDS - time.monotonic(),
        )
        handled_at = run.mark("all handled")
        outbox = query(
            app,
            "SELECT id::text, aggregate_id, (event_data->>'seq')::int, retry_count"
            " FROM domain_event_outbox ORDER BY position",
        )
        effects = query(app, "SELECT event_id::text, count(*) FROM test_effects GROUP BY event_id")
        stream_ids = [fields[b"id"].decode() for _id, fields in run.redis.xrange(STREAM)]
        logs = run.logs()
    finally:
        run.close()

    event_ids = {row[0] for row in outbox}
    print(  # the figures, for `pytest -s`
        "\nfault test (s since production started): "
        + ", ".join(f"{name} {t:.1f}" for name, t in run.timings.items())
        + f"\n  horses killed {run.horses_killed}/3, {run.kills_before_commit} of them between"
        " a relay's XADDs and its commit;"
        f" stream entries {len(stream_ids)}"
        f" for {len(event_ids)} events ({len(stream_ids) - len(set(stream_ids))} re-relayed);"
        f" failed publish attempts {sum(row[3] for row in outbox)}; published"
        f" {published_at - last_fault:.1f} s and handled {handled_at - last_fault:.1f} s"
        " after the last fault"
    )
    assert run.horses_killed == 3, "a kill found no horse at work: the fault was not exercised"

    # None lost: every committed event is in the stream, and was handled.
    assert len(event_ids) == N_EVENTS
    missing = event_ids - set(stream_ids)
    assert not missing, f"{len(missing)} events are not in the stream"
    assert handled, f"only {len(effects)} of {N_EVENTS} events handled\n{logs}"
    assert {row[0] for row in effects} == event_ids
    # Once in effect, however often delivered: the test handler's table has no unique key.
    duplicated = [event_id for event_id, n in effects if n > 1]
    assert not duplicated, f"{len(duplicated)} events were handled more than once"

    # Per-aggregate order: each event's first appearance in the stream comes in seq order.
    where = {row[0]: (row[1], row[2]) for row in outbox}
    first_seen: dict[str, list[int]] = defaultdict(list)
    for event_id in dict.fromkeys(stream_ids):  # first occurrences, in stream order
        aggregate, seq = where[event_id]
        first_seen[aggregate].append(seq)
    assert len(first_seen) == N_AGGREGATES
    out_of_order = sorted(a for a, seqs in first_seen.items() if seqs != sorted(seqs))
    assert not out_of_order, f"aggregates published out of order: {out_of_order}"
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in first_seen.values())
