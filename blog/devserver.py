"""`make run`: the whole product on one machine, for development and trying it out.

Starts an embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset, applies the
migrations, creates the demo data on the first run, then supervises web + worker + cron. Ctrl-C
(or SIGTERM) stops every child and both embedded servers; if any child dies, everything stops.

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
import time
import urllib.request
from pathlib import Path
from typing import Any

from blog.config import PROJECT_ROOT, VAR_DIR, ConfigError, load_settings
from blog.core.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    EmbeddedServiceError,
    die_with_parent,
)

STOP_GRACE_SECONDS = 10


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
    # Explicit: a shell starts background jobs with SIGINT ignored, and Python keeps it so.
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    # If whatever started us dies (make killed, terminal closed), shut down in order.
    die_with_parent()
    try:
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
        settings = load_settings(env)

        flask = [sys.executable, "-m", "flask"]
        if args.flask:
            return subprocess.call([*flask, *args.flask], env=env, cwd=PROJECT_ROOT)
        say("applying migrations")
        _check(subprocess.call([*flask, "db", "upgrade"], env=env, cwd=PROJECT_ROOT), "migrations")
        if args.migrate_only:
            return 0
        _check(subprocess.call([*flask, "seed-demo", "--quiet"], env=env, cwd=PROJECT_ROOT), "seed")
        return supervise(
            {
                "web": [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
                "worker": [*flask, "worker"],
                "cron": [*flask, "cron"],
            },
            env,
            site_url=settings.site_url,
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
        for service in reversed(services):
            say(f"stopping embedded {type(service).__name__.removeprefix('Embedded')}")
            service.stop()


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _check(code: int, what: str) -> None:
    if code != 0:
        raise EmbeddedServiceError(f"{what} failed (exit code {code}); see the output above")


def supervise(commands: dict[str, list[str]], env: dict[str, str], *, site_url: str) -> int:
    children: dict[str, subprocess.Popen[bytes]] = {}
    exit_code = 0
    try:
        for name, command in commands.items():
            # Own session: Ctrl-C reaches only us, and we stop the children in order.
            children[name] = subprocess.Popen(
                command,
                env=env,
                cwd=PROJECT_ROOT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509
            )
        _announce_when_ready(children, site_url)
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    say(f"{name} exited with code {child.returncode}: stopping everything")
                    return 1
            time.sleep(0.5)
    except (Stop, KeyboardInterrupt):
        say("stopping")
        return exit_code
    finally:
        _stop_children(children)


def _announce_when_ready(children: dict[str, subprocess.Popen[bytes]], site_url: str) -> None:
    from blog.ops.demo import DEMO_ACCOUNTS

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if children["web"].poll() is not None:
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
    say("Demo logins (email / password / role):")
    for email, _name, password, role in DEMO_ACCOUNTS:
        say(f"    {email:<24} {password:<22} {role}")


def _stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    import psutil

    procs: list[psutil.Process] = []
    for child in children.values():
        try:
            parent = psutil.Process(child.pid)
            # RQ's work horse lives in its own session: collect descendants before signalling.
            procs.extend([parent, *parent.children(recursive=True)])
        except psutil.NoSuchProcess:
            continue
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGTERM)
    _gone, alive = psutil.wait_procs(procs, timeout=STOP_GRACE_SECONDS)
    for proc in alive:
        say(f"killing {proc.pid} (did not stop within {STOP_GRACE_SECONDS} s)")
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


if __name__ == "__main__":
    sys.exit(main())
