"""Chat fan-out over the live channel against a bare flask-sock broadcast (issue 7).

    .venv/bin/python benchmarks/chat_fanout.py [--clients 200] [--rate 10] [--seconds 30]
                                               [--page-rate 20] [--page-seconds 10] [--rounds 4]
    .venv/bin/python benchmarks/chat_fanout.py --quick        # a smoke run, about a minute

Not part of the test run. Starts an embedded PostgreSQL and Redis under var/bench/ (or uses
BENCH_DATABASE_URL's server for a scratch database, and BENCH_REDIS_URL, which is flushed),
applies the migrations, and makes --clients users with a real server-side session each (rows
in `sessions`, as sign-in makes them), all in one group conversation made by the chat service,
and raises the `chat_send` rate limit through the `rate_limits` setting. Every server below
runs under `gunicorn -c gunicorn.conf.py` with 2 workers and the file's thread count. In one run:

  (b) the baseline: benchmarks/bare_fanout_app.py, a bare flask-sock app with the app's
      shape (one socket per user, one PUBLISH per user channel in one pipeline, one
      pattern-subscribed listener thread per process forwarding to local sockets); --clients
      sockets, one of them sends --rate messages/s for --seconds;
  (c) page latency: a signed-in participant's --page (/chat) requested at --page-rate/s (open
      loop: each request's time counts from when it was due, so a queue shows) for
      --page-seconds with no socket open, then with --clients idle sockets open; --rounds
      rounds, samples pooled. Target: p99 with sockets / p99 without <= 1.2;
  (a) the real app: the --clients sockets (signed in by cookie, Origin checked) stay open;
      one of them sends `{"type": "chat.send", ...}` at --rate/s for --seconds. Each body
      carries its sequence number and send time; every client notes when each arrives.
      Lost (must be 0 for both runs), p50/p95/p99 send-to-receive over every (message,
      client) pair. Target: p99 app / p99 bare <= 2.5.

Both web processes must hold clients (checked: the app's presence sets name the process, the
bare app says its pid). The clients and the page load run in one asyncio loop (aiohttp), so
the load generator stays light next to the servers on a 2-core machine. No RQ worker runs:
the `message.sent` events wait in the outbox (live delivery does not depend on them).
Loopback only; every wait is bounded; everything started is stopped, Ctrl-C included.
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

import aiohttp  # noqa: E402
from redis import Redis  # noqa: E402

from benchmarks.outbox_relay import BENCH_DIR, Services, percentile, say, wait_until  # noqa: E402
from blog import create_app  # noqa: E402
from blog.core.db import utcnow  # noqa: E402
from blog.core.embedded import die_with_parent  # noqa: E402
from blog.extensions import db  # noqa: E402

LATENCY_RATIO_TARGET = 2.5
PAGE_RATIO_TARGET = 1.2
MARKER = re.compile(r"bench message (\d+) sent (\d+\.\d+)")
DRAIN_SECONDS = 20  # after the last send, how long stragglers may take before they count lost
PAGE_TIMEOUT_SECONDS = 10
CONNECT_TIMEOUT_SECONDS = 30


# --------------------------------------------------------------------------- setup


@dataclass
class World:
    conversation_id: str
    tokens: list[str]  # one session token per client; tokens[0] is the sender's
    cookie_name: str
    user_ids: list[str]


def seed(app: Any, clients: int) -> World:
    """`clients` users with a session each, in one group; the chat_send limit raised."""
    from blog.auth.models import PURGED_PASSWORD, User, UserSession
    from blog.auth.sessions import new_token
    from blog.chat.services import create_group
    from blog.ops.models import Configuration

    with app.app_context():
        users = [
            User(
                email=f"chat{n}@example.com",
                user_name=f"chat{n}",
                password_hash=PURGED_PASSWORD,  # signs in by its session row, made below
                email_verified_at=utcnow(),
            )
            for n in range(clients)
        ]
        db.session.add_all(users)
        db.session.flush()
        tokens = []
        for user in users:
            token, token_hash = new_token()
            tokens.append(token)
            db.session.add(
                UserSession(
                    user_id=user.id,
                    token_hash=token_hash,
                    expires_at=utcnow() + timedelta(hours=2),
                    user_agent="chat_fanout benchmark",
                )
            )
        conversation = create_group(users[0], "Benchmark group", users[1:])
        # The sender may send far more than a person would (the default is 20 per 10 s).
        db.session.add(
            Configuration(
                key="rate_limits",
                environment=app.config["ENV_NAME"],
                value={"chat_send": "1000/second;1000000/hour"},
            )
        )
        db.session.commit()
        world = World(
            conversation_id=str(conversation.id),
            tokens=tokens,
            cookie_name=app.config["AUTH_COOKIE_NAME"],
            user_ids=[str(u.id) for u in users],
        )
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return world


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gunicorn(target: str, env: dict[str, str], port: int, name: str) -> Iterator[None]:
    """`gunicorn -c gunicorn.conf.py target` with 2 workers, until it answers /healthz."""
    log_dir = BENCH_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"chat-{name}.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", target],
            cwd=PROJECT_ROOT,
            env={**env, "PORT": str(port), "BLOG_WEB_WORKERS": "2"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets PDEATHSIG
        )
    try:
        if not wait_until(lambda: _answers(port), 60, 0.1):
            raise SystemExit(f"{target} did not start: see {log_dir}")
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _answers(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- clients


@dataclass
class Fleet:
    """Websocket clients in this asyncio loop, and what each received (sequence -> latency)."""

    urls: list[tuple[str, dict[str, str]]]
    session: aiohttp.ClientSession | None = None
    sockets: list[aiohttp.ClientWebSocketResponse] = field(default_factory=list)
    first: list[str] = field(default_factory=list)
    latency: list[dict[int, float]] = field(default_factory=list)
    duplicates: int = 0
    frames: int = 0
    dropped: int = 0  # sockets the server closed while we listened
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def open(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.DummyCookieJar()
        )
        n = len(self.urls)
        self.sockets = [None] * n  # type: ignore[list-item]
        self.first = [""] * n
        self.latency = [{} for _ in range(n)]
        gate = asyncio.Semaphore(20)  # 20 handshakes at a time

        async def connect(i: int) -> None:
            async with gate:
                await self.connect(i)

        await asyncio.gather(*(connect(i) for i in range(n)))

    async def connect(self, i: int) -> None:
        url, headers = self.urls[i]
        try:
            ws = await asyncio.wait_for(
                self.session.ws_connect(  # type: ignore[union-attr]
                    url, headers=headers, heartbeat=None, max_msg_size=0
                ),
                CONNECT_TIMEOUT_SECONDS,
            )
            # The first frame (the app's live status, the bare app's pid) means registered.
            message = await ws.receive(timeout=CONNECT_TIMEOUT_SECONDS)
        except (TimeoutError, aiohttp.ClientError) as exc:
            # With every worker thread held by a socket, the handshake just waits.
            raise SystemExit(
                f"client {i}: socket not open after {CONNECT_TIMEOUT_SECONDS} s: {exc!r}"
            ) from exc
        if message.type != aiohttp.WSMsgType.TEXT:
            raise SystemExit(f"client {i}: no first frame ({message.type!r})")
        self.first[i] = message.data
        self.sockets[i] = ws

    async def rebalance(self, holder: Callable[[int], Any]) -> dict[str, int]:
        """Reconnect clients of the busier process until each holds 45-55% of them.

        gunicorn leaves the spread to whichever worker accepts first (150/50 was seen): the
        bare run and the app run must be compared at the same spread. Returns the spread."""
        n = len(self.sockets)
        where = {i: str(await holder(i)) for i in range(n)}
        for _ in range(4 * n):
            counts = Counter(where.values())
            if len(counts) >= 2 and max(counts.values()) <= math.ceil(0.55 * n):
                break
            busiest = counts.most_common(1)[0][0]
            i = next(i for i, pid in where.items() if pid == busiest)
            await self.sockets[i].close()
            await asyncio.sleep(0.02)  # the server notices the close (presence withdrawn)
            await self.connect(i)
            where[i] = str(await holder(i))
        return dict(Counter(where.values()))

    def start(self) -> None:
        """Listen on every socket from now on."""
        self._readers = [asyncio.create_task(self._read(i)) for i in range(len(self.sockets))]

    async def _read(self, i: int) -> None:
        got = self.latency[i]
        async for message in self.sockets[i]:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            now = time.time()
            self.frames += 1
            found = MARKER.search(message.data)
            if found is None:
                continue
            seq = int(found[1])
            if seq in got:
                self.duplicates += 1
            else:
                got[seq] = now - float(found[2])
        self.dropped += 1

    def received(self) -> int:
        return sum(len(got) for got in self.latency)

    async def close(self) -> None:
        for ws in self.sockets:
            if ws is not None:
                with contextlib.suppress(Exception):
                    await ws.close()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        if self.session is not None:
            await self.session.close()


@dataclass
class Fanout:
    latencies: list[float]
    sent: int
    expected: int
    received: int
    duplicates: int
    achieved: float
    frames: int
    dropped: int
    split: dict[str, int]
    # Per message, the first receiver's latency: what the sending side (and Redis) took before
    # any forwarding, so a tail here is the sender's and a tail only in `latencies` the fan-out's.
    first: list[float]


@dataclass
class Sender:
    """Client 0 of a fleet sends at `rate`; sequence numbers run on across segments."""

    fleet: Fleet
    payload: Callable[[int, float], str]
    sent: int = 0
    busy: float = 0.0

    async def segment(self, rate: float, seconds: float) -> None:
        """Send for `seconds`, each message due at start + k / rate."""
        sender = self.fleet.sockets[0]
        total = round(rate * seconds)
        start = time.perf_counter()
        for k in range(total):
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await sender.send_str(self.payload(self.sent, time.time()))
            self.sent += 1
        self.busy += time.perf_counter() - start

    async def drain(self) -> None:
        expected = self.sent * len(self.fleet.sockets)
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.fleet.received() < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    def summary(self, split: dict[str, int]) -> Fanout:
        fleet = self.fleet
        latencies = [lat for got in fleet.latency for lat in got.values()]
        first: dict[int, float] = {}
        for got in fleet.latency:
            for seq, lat in got.items():
                first[seq] = min(lat, first.get(seq, lat))
        return Fanout(
            first=list(first.values()),
            latencies=latencies,
            sent=self.sent,
            expected=self.sent * len(fleet.sockets),
            received=len(latencies),
            duplicates=fleet.duplicates,
            achieved=self.sent / self.busy if self.busy else 0.0,
            frames=fleet.frames,
            dropped=fleet.dropped,
            split=split,
        )


async def page_load(
    url: str, cookie: str, rate: float, seconds: float
) -> tuple[list[float], list[str]]:
    """GET `url` at `rate`/s for `seconds`; each latency counts from when the request was due."""
    latencies: list[float] = []
    errors: list[str] = []
    timeout = aiohttp.ClientTimeout(total=PAGE_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=32),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=timeout,
    ) as session:

        async def one(due: float) -> None:
            try:
                async with session.get(url, headers={"Cookie": cookie}) as response:
                    await response.read()
                    if response.status != 200:
                        errors.append(f"status {response.status}")
                        return
            except (TimeoutError, aiohttp.ClientError) as exc:
                errors.append(repr(exc) or type(exc).__name__)
                latencies.append(math.inf)
                return
            latencies.append(time.perf_counter() - due)

        tasks = []
        start = time.perf_counter()
        for n in range(round(rate * seconds)):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
    return latencies, errors


# --------------------------------------------------------------------------- the run


@dataclass
class Results:
    bare: Fanout
    app: Fanout
    page_none: list[float]
    page_open: list[float]
    page_errors: list[str]
    rounds: list[tuple[float, float]]


@dataclass
class Pages:
    none: list[float] = field(default_factory=list)
    open: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rounds: list[tuple[float, float]] = field(default_factory=list)


async def bench_pages(
    fleet: Fleet, url: str, cookie: str, args: argparse.Namespace, pages: Pages
) -> Fleet:
    """(c): rounds of page load with no socket and with the fleet's sockets open, in the
    order A B B A ...; returns the fleet, open."""
    is_open = False
    for r in range(args.rounds):
        p99 = {}
        for phase in ("none", "open") if r % 2 == 0 else ("open", "none"):
            if (phase == "open") != is_open:
                if is_open:
                    await fleet.close()
                    fleet = Fleet(fleet.urls)
                else:
                    await fleet.open()
                is_open = not is_open
            label = f"{len(fleet.urls)} idle sockets" if is_open else "no socket"
            say(f"    (c) round {r + 1}/{args.rounds}: {args.page} with {label} ...")
            lat, err = await page_load(url, cookie, args.page_rate, args.page_seconds)
            (pages.open if is_open else pages.none).extend(lat)
            pages.errors += err
            p99[phase] = percentile(lat, 99)
        pages.rounds.append((p99["none"], p99["open"]))
    if not is_open:
        await fleet.open()
    return fleet


async def bench(
    app_port: int, bare_port: int, world: World, redis_url: str, args: argparse.Namespace
) -> Results:
    """(c) first, alternating the order of its two phases; then (a) and (b) in alternating
    segments, so that a load that comes and goes on a shared machine touches both alike."""
    from blog.core.live import presence_key

    base = f"http://127.0.0.1:{app_port}"
    cookies = [f"{world.cookie_name}={token}" for token in world.tokens]
    page_url = base + args.page
    reader = cookies[1 % len(cookies)]  # a participant who is not the sender
    app_fleet = Fleet(
        [(base.replace("http", "ws") + "/ws", {"Cookie": c, "Origin": base}) for c in cookies]
    )
    bare_ws = f"ws://127.0.0.1:{bare_port}/ws"
    bare_fleet = Fleet([(f"{bare_ws}?user={n}", {}) for n in range(len(cookies))])
    redis = Redis.from_url(redis_url)

    async def app_holder(i: int) -> str:
        # The process holding user i's socket names itself in their presence set (host:pid:..).
        members: list[bytes] = []
        for _ in range(100):
            members = redis.zrange(presence_key(world.user_ids[i]), 0, -1)
            if len(members) == 1:
                break
            await asyncio.sleep(0.01)
        return members[0].decode().split(":")[1] if members else "?"

    async def bare_holder(i: int) -> str:
        return bare_fleet.first[i].removeprefix("pid:")

    say(f"    warming up {args.page} ...")
    await page_load(page_url, reader, args.page_rate, 3)
    pages = Pages()
    try:
        app_fleet = await bench_pages(app_fleet, page_url, reader, args, pages)
        await bare_fleet.open()
        app_split = await app_fleet.rebalance(app_holder)
        bare_split = await bare_fleet.rebalance(bare_holder)
        say(f"    spread over the workers: app {app_split}, bare {bare_split}")
        app_fleet.start()
        bare_fleet.start()
        conversation = world.conversation_id
        app_sender = Sender(
            app_fleet,
            lambda n, at: json.dumps(
                {
                    "type": "chat.send",
                    "conversation": conversation,
                    "body": f"bench message {n} sent {at:.6f}",
                }
            ),
        )
        bare_sender = Sender(bare_fleet, lambda n, at: f"bench message {n} sent {at:.6f}")
        segments = max(1, round(args.seconds / args.segment))
        each = args.seconds / segments
        for k in range(segments):
            order = [("b", bare_sender), ("a", app_sender)]
            for name, sender in order if k % 2 == 0 else order[::-1]:
                say(f"    ({name}) segment {k + 1}/{segments}: {args.rate:g}/s for {each:g} s ...")
                await sender.segment(args.rate, each)
                await asyncio.sleep(1)  # let this one's tail arrive before the other starts
        await app_sender.drain()
        await bare_sender.drain()
        return Results(
            bare=bare_sender.summary(bare_split),
            app=app_sender.summary(app_split),
            page_none=pages.none,
            page_open=pages.open,
            page_errors=pages.errors,
            rounds=pages.rounds,
        )
    finally:
        await app_fleet.close()
        await bare_fleet.close()


# --------------------------------------------------------------------------- report


def _ms(values: list[float], p: float) -> str:
    if not values:
        return "-"
    value = percentile(values, p)
    return "timeout" if math.isinf(value) else f"{value * 1000:,.1f}"


def report(args: argparse.Namespace, app: Results) -> int:
    a, bare = app.app, app.bare
    bare_p99 = percentile(bare.latencies, 99) if bare.latencies else math.inf
    app_p99 = percentile(a.latencies, 99) if a.latencies else math.inf
    latency_ratio = app_p99 / bare_p99 if 0 < bare_p99 < math.inf else math.inf
    none_p99 = percentile(app.page_none, 99) if app.page_none else math.inf
    open_p99 = percentile(app.page_open, 99) if app.page_open else math.inf
    finite = math.isfinite(open_p99) and math.isfinite(none_p99) and none_p99 > 0
    page_ratio = open_p99 / none_p99 if finite else math.inf

    say("")
    say(
        f"{args.clients} clients, 1 sender at {args.rate:g}/s for {args.seconds:g} s; "
        f"page {args.page} at {args.page_rate:g}/s, {args.page_seconds:g} s x {args.rounds}"
    )
    head = f"{'run':<36} {'lost':>10} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}  note"
    say(head)
    say("-" * 100)
    for name, run in (("(b) bare flask-sock broadcast", bare), ("(a) app chat fan-out", a)):
        lost = run.expected - run.received
        say(
            f"{name:<36} {lost:>4}/{run.expected:<5} {_ms(run.latencies, 50):>9} "
            f"{_ms(run.latencies, 95):>9} {_ms(run.latencies, 99):>9}  "
            f"sent {run.sent} at {run.achieved:.1f}/s, {run.frames:,} frames, "
            f"dup {run.duplicates}, closed {run.dropped}, "
            f"per process {sorted(run.split.values(), reverse=True)}"
        )
    for name, run in (("(b) bare: first receiver", bare), ("(a) app: first receiver", a)):
        say(
            f"{name:<36} {'':>10} {_ms(run.first, 50):>9} {_ms(run.first, 95):>9} "
            f"{_ms(run.first, 99):>9}  per message, the fastest of its receivers"
        )
    for name, values in (
        ("(c) page, no socket open", app.page_none),
        (f"(c) page, {args.clients} idle sockets", app.page_open),
    ):
        say(
            f"{name:<36} {'':>10} {_ms(values, 50):>9} {_ms(values, 95):>9} "
            f"{_ms(values, 99):>9}  {len(values)} requests"
        )
    say("-" * 100)
    per_round = ", ".join(f"{x * 1000:.0f}/{y * 1000:.0f}" for x, y in app.rounds)
    say(f"page p99 per round (none/open, ms): {per_round}")
    if app.page_errors:
        say(f"page errors: {len(app.page_errors)}, e.g. {app.page_errors[:3]}")

    checks = [
        (f"app lost 0 (of {a.expected:,})", a.expected - a.received == 0 and a.sent > 0),
        (f"bare lost 0 (of {bare.expected:,})", bare.expected - bare.received == 0),
        ("both web processes held clients (app)", len(a.split) >= 2),
        ("both web processes held clients (bare)", len(bare.split) >= 2),
        (
            f"p99 app / bare <= {LATENCY_RATIO_TARGET}: {latency_ratio:.2f}",
            latency_ratio <= LATENCY_RATIO_TARGET,
        ),
        (
            f"page p99 open / none <= {PAGE_RATIO_TARGET}: {page_ratio:.2f}",
            page_ratio <= PAGE_RATIO_TARGET,
        ),
        ("no page request failed", not app.page_errors),
    ]
    for text, ok in checks:
        say(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in checks) else 1


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--page", default="/chat")
    parser.add_argument("--page-rate", type=float, default=20.0)
    parser.add_argument("--page-seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--segment", type=float, default=10.0, help="(a) and (b) alternate in segments this long"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 clients, 5 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.seconds, args.page_seconds, args.rounds = 50, 6.0, 3.0, 1
        args.segment = 3.0
    if args.clients < 2:
        parser.error("--clients must be at least 2")

    services = Services()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        say("starting services ...")
        services.start()
        port_bare, port_app = free_port(), free_port()
        env = {
            **os.environ,
            **services.environ(),
            "BLOG_SITE_URL": f"http://127.0.0.1:{port_app}",
            "BARE_USERS": str(args.clients),
        }
        app = create_app({"OUTBOX_TRIGGER_ON_COMMIT": False}, environ=services.environ())
        import flask_migrate

        with app.app_context():
            flask_migrate.upgrade()
        say(f"seeding {args.clients} users in one group ...")
        world = seed(app, args.clients)
        say("serving the bare app and the app side by side ...")
        with (
            gunicorn("benchmarks.bare_fanout_app:app", env, port_bare, "bare"),
            gunicorn("app:app", env, port_app, "app"),
        ):
            results = asyncio.run(bench(port_app, port_bare, world, services.redis_url, args))
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        return 130
    finally:
        services.stop()
    return report(args, results)


if __name__ == "__main__":
    sys.exit(main())
