"""What the fault tests share: worker subprocesses to SIGKILL, a Redis of the run's own, the
`flask cron` stand-in, and database probes (tests/outbox/test_fault.py,
tests/outbox/test_comment_burst.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import text

from blog.config import PROJECT_ROOT
from blog.core.embedded import EmbeddedRedis, die_with_parent
from blog.core.redis import init_redis
from blog.extensions import db
from blog.jobs.queues import get_queue

FLASK_WORKER = (sys.executable, "-m", "flask", "--app", "app", "worker")
HANDLER_MODULE = "tests.outbox.handlers"


# --------------------------------------------------------------------------- processes


class WorkerProcess:
    """One worker subprocess; `flask worker` is an RQ worker with a scheduler child (and, when
    forking, a work horse per job)."""

    def __init__(
        self, name: str, command: tuple[str, ...], env: dict[str, str], log_dir: Path
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets PDEATHSIG
            )

    def registered(self, redis: Redis) -> Worker | None:
        """The worker's record in Redis once it finished booting, else None."""
        return next((w for w in Worker.all(connection=redis) if w.pid == self.proc.pid), None)

    def is_registered(self, redis: Redis) -> bool:
        return self.registered(redis) is not None

    def horses(self) -> list[int]:
        """The work horse's pid (RQ forks one per job, in a process group of its own)."""
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(self.proc.pid).children()
            return [p.pid for p in children if _is_group_leader(p)]
        return []

    def sigkill(self, horse: int | None = None) -> bool:
        """SIGKILL the worker, its scheduler and its horse; True if a horse was mid-job."""
        if horse:  # the one aimed at, first: every millisecond lets the relay commit
            with contextlib.suppress(ProcessLookupError):
                os.kill(horse, signal.SIGKILL)
        # Freeze the worker's group (worker and scheduler): no new horse from here on.
        os.killpg(self.proc.pid, signal.SIGSTOP)
        others = self.horses()
        for pid in others:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        return bool(horse or others)

    def stop(self) -> None:
        """Clean-up: kill whatever is left of the worker, its horse and its scheduler."""
        if self.proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                _kill_all(psutil.Process(self.proc.pid).children(recursive=True))
            self.proc.kill()
        self.proc.wait(10)

    def tail(self, chars: int = 3000) -> str:
        return f"--- {self.name} ---\n{self.log_path.read_text(errors='replace')[-chars:]}"


def _is_group_leader(process: psutil.Process) -> bool:
    try:
        return os.getpgid(process.pid) == process.pid
    except (ProcessLookupError, psutil.Error):
        return False


def _kill_all(processes: list[psutil.Process]) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGKILL)


# --------------------------------------------------------------------------- probes


def query(app: Flask, sql: str, **params: Any) -> list[Any]:
    with app.app_context():
        try:
            return list(db.session.execute(text(sql), params).all())
        finally:
            db.session.remove()


def count(app: Flask, sql: str, **params: Any) -> int:
    return int(query(app, sql, **params)[0][0])


def wait_for(condition: Callable[[], bool], seconds: float, poll: float = 0.25) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


def sweep_outbox_every(app: Flask, seconds: float, stop: threading.Event) -> None:
    """Play `flask cron`: enqueue the relay sweep on the outbox queue, riding over outages."""
    with app.app_context():
        queue = get_queue("outbox")
        while not stop.wait(seconds):
            with contextlib.suppress(RedisError):
                queue.enqueue("blog.outbox.relay.sweep_outbox", job_timeout=120, result_ttl=60)


# --------------------------------------------------------------------------- the run


class ServiceRun:
    """A Redis of the run's own, the workers and threads of one run, and its clock;
    `close()` stops everything it started."""

    def __init__(
        self,
        app: Flask,
        tmp_path: Path,
        *,
        persist_redis: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.redis_server = EmbeddedRedis(tmp_path / "redis", persist=persist_redis)
        self.redis_server.start()
        redis_url = self.redis_server.url(0)
        self.redis = Redis.from_url(redis_url)
        # The session's app, pointed at this Redis until close(). Not a second app from
        # make_app: its init_app would rebind the shared Flask-Limiter to this Redis, and the
        # rate limits of every later test would fail open against a stopped server.
        self.app = app
        self._saved_redis = (app.config["REDIS_URL"], app.extensions["blog_redis"])
        app.config["REDIS_URL"] = redis_url
        init_redis(app)
        self.env = {
            "BLOG_ENV": "testing",
            "DATABASE_URL": self.app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": redis_url,
            "BLOG_TEST_HANDLER_MODULES": HANDLER_MODULE,  # the workers load the test handler
            "BLOG_LOG_LEVEL": "INFO",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **(env or {}),
        }
        self.workers: list[WorkerProcess] = []
        self.threads: list[threading.Thread] = []
        self.stop_threads = threading.Event()
        self.t0 = time.monotonic()
        self.timings: dict[str, float] = {}

    def start_worker(self, name: str, command: tuple[str, ...]) -> WorkerProcess:
        worker = WorkerProcess(name, command, self.env, self.tmp_path)
        self.workers.append(worker)
        return worker

    def wait_until_registered(self, seconds: float = 30) -> None:
        booted = wait_for(lambda: all(w.is_registered(self.redis) for w in self.workers), seconds)
        assert booted, "the workers did not start\n" + self.logs()

    def start_thread(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args)
        self.threads.append(thread)
        thread.start()

    def mark(self, name: str) -> float:
        self.timings[name] = time.monotonic() - self.t0
        return self.timings[name]

    def logs(self) -> str:
        return "\n".join(worker.tail() for worker in self.workers)

    def close(self) -> None:
        self.stop_threads.set()
        for thread in self.threads:
            thread.join(30)
        for worker in self.workers:
            worker.stop()
        self.app.config["REDIS_URL"], self.app.extensions["blog_redis"] = self._saved_redis
        self.redis_server.stop()
