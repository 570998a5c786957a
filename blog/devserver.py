"""`make run`: the whole product on one machine, for development and trying it out.

Starts an embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset, applies the
migrations, creates the demo data on the first run, then supervises web, two workers (`events`,
in-process, for the outbox and notifications; `worker`, forking, for mail and the rest) and cron.
With no BLOG_SMTP_URL it also runs a mail sink (blog/devmail/sink.py) that keeps every message
under var/mail for /dev/mail. A child that dies is restarted after 1, 2, 4 … 30 s (the delay
grows while it keeps dying, and starts again at 1 s once it has run for a minute); only a crash
loop lasting CRASH_LOOP_SECONDS (5 minutes) stops everything, with a message naming the child
and the last line it wrote to stderr. Ctrl-C (or SIGTERM) stops every child, the sink and both
embedded servers.

    python -m blog.devserver                 # run everything
    python -m blog.devserver --migrate-only  # just bring the database to head
    python -m blog.devserver --flask db migrate -m "..."   # any flask command, same env
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blog.config import DEV_MAIL_DIR, PROJECT_ROOT, VAR_DIR, ConfigError, load_settings
from blog.core.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    EmbeddedServiceError,
    die_with_parent,
)
from blog.jobs.queues import FORKING_QUEUES, IN_PROCESS_QUEUES

if TYPE_CHECKING:
    import psutil

    from blog.devmail.sink import MailSink

STOP_GRACE_SECONDS = 10
POLL_SECONDS = 0.5
# The delay before restarting a child that died: the n-th crash in a row waits BACKOFF[n-1],
# the last one after that.
BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
# A run this long ends a crash loop: the next crash waits 1 s again.
STABLE_SECONDS = 60.0
# Crashing (no stable run in between) for this long stops everything: 5 SIGKILLs of the events
# worker in 35 s must not, a child that cannot start for minutes must.
CRASH_LOOP_SECONDS = 300.0


def say(message: str) -> None:
    print(f"[blog] {message}", flush=True)


class Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: Any) -> None:
    raise Stop(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blog.devserver")
    parser.add_argument("--migrate-only", action="store_true")
    parser.add_argument("--flask", nargs=argparse.REMAINDER, help="run a flask command and exit")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env.setdefault("BLOG_ENV", "development")
    env.setdefault("FLASK_APP", "app")
    env["PYTHONUNBUFFERED"] = "1"
    services: list[EmbeddedPostgres | EmbeddedRedis] = []
    sink: MailSink | None = None
    # Explicit: a shell starts background jobs with SIGINT ignored, and Python keeps it so.
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    # If whatever started us dies (make killed, terminal closed), shut down in order.
    die_with_parent()
    try:
        _start_embedded_services(env, services)
        settings = load_settings(env)

        flask = [sys.executable, "-m", "flask"]
        if args.flask:
            return subprocess.call([*flask, *args.flask], env=env, cwd=PROJECT_ROOT)
        say("applying migrations")
        _check(subprocess.call([*flask, "db", "upgrade"], env=env, cwd=PROJECT_ROOT), "migrations")
        if args.migrate_only:
            return 0
        _check(subprocess.call([*flask, "seed-demo", "--quiet"], env=env, cwd=PROJECT_ROOT), "seed")
        banner = []
        if not env.get("BLOG_SMTP_URL", "").strip():
            sink = _start_mail_sink(env)
            if settings.env == "development":
                banner.append(f"Mail the app sends: {settings.site_url}/dev/mail")
        return supervise(
            {
                "web": [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
                # Two workers (blog/jobs/worker.py): the relay and notification handlers run
                # in-process, on the path from a commit to a badge; mail and the rest forked.
                "events": [*flask, "worker", "--in-process", "-q", ",".join(IN_PROCESS_QUEUES)],
                # Mail and the rest can wait: under load they yield the CPU (nice 10).
                "worker": [*flask, "worker", "--nice", "10", "-q", ",".join(FORKING_QUEUES)],
                "cron": [*flask, "cron"],
            },
            env,
            site_url=settings.site_url,
            banner=banner,
        )
    except ConfigError as exc:
        say(f"configuration error: {exc}")
        return 2
    except EmbeddedServiceError as exc:
        say(f"error: {exc}")
        return 2
    except (Stop, KeyboardInterrupt):
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if sink is not None:
            say("stopping the mail sink")
            sink.stop()
        for service in reversed(services):
            say(f"stopping embedded {type(service).__name__.removeprefix('Embedded')}")
            service.stop()


def _start_embedded_services(
    env: dict[str, str], services: list[EmbeddedPostgres | EmbeddedRedis]
) -> None:
    """Start PostgreSQL and Redis for the URLs that are unset; `services` collects them."""
    if not env.get("DATABASE_URL"):
        say(f"starting embedded PostgreSQL (data in {_rel(VAR_DIR / 'pg')})")
        pg = EmbeddedPostgres(VAR_DIR / "pg")
        pg.start()
        services.append(pg)
        env["DATABASE_URL"] = pg.ensure_database("blog")
    if not env.get("REDIS_URL"):
        say(f"starting embedded Redis (data in {_rel(VAR_DIR / 'redis')})")
        redis = EmbeddedRedis(VAR_DIR / "redis")
        redis.start()
        services.append(redis)
        env["REDIS_URL"] = redis.url()


def _start_mail_sink(env: dict[str, str]) -> MailSink:
    """Catch the app's mail on loopback and point every child at it through BLOG_SMTP_URL."""
    from blog.devmail.sink import MailSink, MailSinkError

    sink = MailSink(DEV_MAIL_DIR)
    try:
        sink.start()
    except MailSinkError as exc:
        raise EmbeddedServiceError(f"{exc} (or set BLOG_SMTP_URL)") from None
    env["BLOG_SMTP_URL"] = sink.url
    say(f"mail sink on {sink.url}: every message is kept in {_rel(DEV_MAIL_DIR)}")
    return sink


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _check(code: int, what: str) -> None:
    if code != 0:
        raise EmbeddedServiceError(f"{what} failed (exit code {code}); see the output above")


class Child:
    """One supervised process: how to start it, what it spawned, and when it crashed."""

    def __init__(self, name: str, command: list[str]) -> None:
        self.name = name
        self.command = command
        self.process: subprocess.Popen[bytes] | None = None
        # Its descendants as last seen: once it is dead they can no longer be found through it.
        self.tree: list[psutil.Process] = []
        self.restart_at: float | None = None
        self.started_at = 0.0
        # Crashes in a row (no stable run between them), and when the first of them happened.
        self.crashes_in_a_row = 0
        self.loop_started: float | None = None
        # The last lines it wrote to stderr (passed on to ours): its last error, for the message.
        self.stderr_tail: deque[str] = deque(maxlen=20)

    def start(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        # Own session: Ctrl-C reaches only us, and we stop the children in order.
        self.process = subprocess.Popen(
            self.command,
            env=env,
            cwd=PROJECT_ROOT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509
            stderr=subprocess.PIPE,
        )
        self.tree, self.restart_at = [], None
        self.started_at = time.monotonic()
        threading.Thread(
            target=self._pass_stderr, args=(self.process,), daemon=True, name=f"{self.name}-stderr"
        ).start()
        return self.process

    def _pass_stderr(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stderr is not None
        out = sys.stderr.buffer
        for line in iter(process.stderr.readline, b""):
            with contextlib.suppress(OSError, ValueError):
                out.write(line)
                out.flush()
            text = line.decode(errors="replace").strip()
            if text:
                self.stderr_tail.append(text)
        process.stderr.close()

    def last_error(self) -> str:
        """Its last line on stderr (a traceback ends with the exception), or "no output"."""
        return self.stderr_tail[-1] if self.stderr_tail else "no output on stderr"

    def remember_tree(self) -> None:
        import psutil

        assert self.process is not None
        with contextlib.suppress(psutil.NoSuchProcess):
            self.tree = psutil.Process(self.process.pid).children(recursive=True)

    def record_crash(self, now: float) -> float:
        """Note a crash; returns how long it has been crashing (0 for a first crash)."""
        if now - self.started_at >= STABLE_SECONDS:  # it ran well: a new loop, if any
            self.crashes_in_a_row, self.loop_started = 0, None
        self.crashes_in_a_row += 1
        if self.loop_started is None:
            self.loop_started = now
        return now - self.loop_started

    def restart_delay(self) -> float:
        return restart_delay(self.crashes_in_a_row)


def restart_delay(crashes_in_a_row: int) -> float:
    """1, 2, 4, 8, 16, 30, 30 … seconds for the 1st, 2nd … crash in a row."""
    return BACKOFF_SECONDS[min(max(crashes_in_a_row, 1), len(BACKOFF_SECONDS)) - 1]


def supervise(
    commands: dict[str, list[str]],
    env: dict[str, str],
    *,
    site_url: str,
    banner: list[str] | None = None,
) -> int:
    """Run the children until Ctrl-C; restart one that dies, unless it keeps dying."""
    import psutil

    launcher = psutil.Process()
    _become_subreaper()
    # Already our children: the embedded servers, which main() stops after us.
    services = {p.pid for p in launcher.children()}
    children = {name: Child(name, command) for name, command in commands.items()}
    try:
        for child in children.values():
            child.start(env)
        _announce_when_ready(children["web"], site_url, banner or [])
        while True:
            now = time.monotonic()
            for child in children.values():
                if child.process is None:
                    if child.restart_at is not None and now >= child.restart_at:
                        say(f"restarting {child.name}")
                        child.start(env)
                    continue
                code = child.process.poll()
                if code is None:
                    child.remember_tree()
                    continue
                child.process = None
                # What it leaves behind (gunicorn workers, an RQ work horse mid-job) must not
                # outlive it: a restarted web could not bind, a horse would run on unsupervised.
                _terminate([*child.tree, *_orphans(launcher, services, children)])
                crashing_for = child.record_crash(now)
                if crashing_for >= CRASH_LOOP_SECONDS:
                    say(
                        f"{child.name} keeps crashing: {child.crashes_in_a_row} crashes in a row "
                        f"over {_duration(crashing_for)}, the last one {_describe_exit(code)}. "
                        f"Its last error: {child.last_error()}. Stopping everything."
                    )
                    return 1
                delay = child.restart_delay()
                n = child.crashes_in_a_row
                say(
                    f"{child.name} {_describe_exit(code)}: restarting it in {delay:g} s "
                    f"({n} crash{'es' if n > 1 else ''} in a row; last error: "
                    f"{child.last_error()})"
                )
                child.restart_at = now + delay
            _reap_orphans(launcher, services, children)
            time.sleep(POLL_SECONDS)
    except (Stop, KeyboardInterrupt):
        say("stopping")
        return 0
    finally:
        _stop_children(children, launcher, services)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def _become_subreaper() -> None:
    """Make orphaned descendants (a work horse whose RQ worker died) our children, not init's.

    Then a restart or Ctrl-C can still find and stop them. Linux only; elsewhere the trees
    remembered per child are the fallback.
    """
    import ctypes

    pr_set_child_subreaper = 36
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_child_subreaper, 1)


def _orphans(
    launcher: psutil.Process, services: set[int], children: dict[str, Child]
) -> list[psutil.Process]:
    """Our children that we did not start: orphans of a dead child, adopted as subreaper."""
    ours = services | {c.process.pid for c in children.values() if c.process is not None}
    return [p for p in launcher.children() if p.pid not in ours]


def _reap_orphans(launcher: psutil.Process, services: set[int], children: dict[str, Child]) -> None:
    """An adopted orphan that exits on its own stays a zombie until we wait for it."""
    import psutil

    for proc in _orphans(launcher, services, children):
        with contextlib.suppress(psutil.Error):
            if proc.status() == psutil.STATUS_ZOMBIE:
                proc.wait(0)


def _terminate(procs: list[psutil.Process]) -> None:
    """SIGTERM, then SIGKILL whatever is still there after the grace period."""
    import psutil

    unique = list({p.pid: p for p in procs}.values())
    for proc in unique:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGTERM)
    _gone, alive = psutil.wait_procs(unique, timeout=STOP_GRACE_SECONDS)
    for proc in alive:
        say(f"killing {proc.pid} (did not stop within {STOP_GRACE_SECONDS} s)")
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def _announce_when_ready(web: Child, site_url: str, banner: list[str]) -> None:
    from blog.ops.demo import DEMO_ACCOUNTS

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if web.process is None or web.process.poll() is not None:
            return
        try:
            with urllib.request.urlopen(f"{site_url}/healthz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        say("web did not answer /healthz within 60 s")
        return
    say(f"Blog is running at {site_url}  (Ctrl-C stops everything)")
    for line in banner:
        say(line)
    say("Demo logins (email / password / role):")
    for email, _name, password, role in DEMO_ACCOUNTS:
        say(f"    {email:<24} {password:<22} {role}")


def _descendants(root: psutil.Process, skip: set[int]) -> list[psutil.Process]:
    """Every process below `root`, leaving out the subtrees of the pids in `skip`."""
    import psutil

    found: list[psutil.Process] = []
    stack = [root]
    while stack:
        with contextlib.suppress(psutil.NoSuchProcess):
            for proc in stack.pop().children():
                if proc.pid not in skip:
                    found.append(proc)
                    stack.append(proc)
    return found


def _stop_children(
    children: dict[str, Child], launcher: psutil.Process, services: set[int]
) -> None:
    # Collect everything before signalling: RQ's work horse lives in its own session, and
    # orphans we adopted are ours to stop too. The embedded servers are main()'s, stopped last.
    procs = _descendants(launcher, services)
    for child in children.values():
        procs.extend(child.tree)
    _terminate(procs)


if __name__ == "__main__":
    sys.exit(main())
