"""Settings from the environment, validated once at start-up.

Every bad or missing value raises ConfigError with one line that names the variable and says
what is wrong; `create_app()` turns that into a clean exit instead of a traceback.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from urllib.parse import urlsplit

ENVIRONMENTS = ("development", "testing", "production")
MIN_SECRET_LENGTH = 32
PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"
# Where the development mail sink (`make run`) stores what it catches; /dev/mail reads it.
DEV_MAIL_DIR = VAR_DIR / "mail"
GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# The push services of the browsers we know (Chrome/Edge/Opera: FCM; Firefox: Mozilla's
# autopush; Safari: Apple; legacy Edge: WNS). A subscription endpoint is user input that the
# server POSTs to, so it must be one of these (or a subdomain), over https: anything else is a
# way to make our workers call an address of the attacker's choosing (SSRF).
DEFAULT_PUSH_HOSTS = (
    "fcm.googleapis.com",
    "android.googleapis.com",
    "push.services.mozilla.com",
    "push.apple.com",
    "notify.windows.com",
)


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    env: str
    secret_key: str
    database_url: str
    redis_url: str
    site_url: str
    trusted_hosts: tuple[str, ...]
    port: int
    log_level: str
    max_content_length: int
    smtp_url: str | None
    mail_from: str
    argon2_time_cost: int
    argon2_memory_cost: int
    statement_timeout_ms: int
    proxy_hops: int = 0
    # The peers whose forwarded headers are believed (the proxies' addresses); empty: any peer.
    proxy_allow: tuple[IPv4Network | IPv6Network, ...] = ()
    # How long a statement waits for a row or table lock before it fails (a 503): a lock held
    # on a busy table must not pile every request of a process up behind it.
    lock_timeout_ms: int = 3000
    # Sessions: absolute lifetime (plain / "remember me"), idle timeout, token rotation.
    session_hours: int = 12
    session_remember_days: int = 30
    session_idle_hours: int = 72
    session_rotate_hours: int = 24
    # Google sign-in (OpenID Connect); off unless a client id and secret are both set.
    google_client_id: str | None = None
    google_client_secret: str | None = None
    google_discovery_url: str = GOOGLE_DISCOVERY_URL
    # Who may read /metrics: these networks, or a client with this bearer token.
    metrics_allow: tuple[IPv4Network | IPv6Network, ...] = ()
    metrics_token: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def site_origin(self) -> str:
        parts = urlsplit(self.site_url)
        return f"{parts.scheme}://{parts.netloc}"

    def flask_config(self) -> dict[str, object]:
        """The Flask/extension config keys derived from these settings."""
        secure = self.site_url.startswith("https://")
        return {
            "ENV_NAME": self.env,
            "TESTING": self.env == "testing",
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {
                # The seeds' pool: 10 connections, 30 s to get one, checked before use, recycled.
                "pool_size": 10,
                "max_overflow": 5,
                "pool_timeout": 30,
                "pool_pre_ping": True,
                "pool_recycle": 1800,
                "connect_args": {
                    "options": (
                        f"-c statement_timeout={self.statement_timeout_ms} "
                        f"-c lock_timeout={self.lock_timeout_ms}"
                    ),
                    "connect_timeout": 5,
                    "application_name": "blog",
                },
            },
            "SQLALCHEMY_TRACK_MODIFICATIONS": False,
            "REDIS_URL": self.redis_url,
            "SITE_URL": self.site_url.rstrip("/"),
            "SITE_ORIGIN": self.site_origin,
            "TRUSTED_HOSTS": list(self.trusted_hosts) or None,
            "MAX_CONTENT_LENGTH": self.max_content_length,
            # Plain forms never need more than this; uploads are streamed, not parsed into memory.
            "MAX_FORM_MEMORY_SIZE": 512 * 1024,
            "MAX_FORM_PARTS": 200,
            # Flask's cookie session only carries flashes and the CSRF secret: sign-in state
            # lives in the `sessions` table (see blog/auth/sessions.py).
            "SESSION_COOKIE_NAME": "blog_flash",
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": secure,
            "AUTH_COOKIE_NAME": "__Host-blog_session" if secure else "blog_session",
            "AUTH_COOKIE_SECURE": secure,
            # The CSRF token lives as long as the browser session, not one hour: long-lived
            # pages (an editor left open) must still be able to save.
            "WTF_CSRF_TIME_LIMIT": None,
            "WTF_CSRF_SSL_STRICT": secure,
            "RATELIMIT_STORAGE_URI": limiter_storage_uri(self.redis_url),
            # A Redis outage must not turn sign-in into a 500: limits fail open, logged.
            "RATELIMIT_SWALLOW_ERRORS": True,
            "RATELIMIT_HEADERS_ENABLED": True,
            "RATELIMIT_KEY_PREFIX": "blog:rl",
            # A moving window counts the last minute (hour…) exactly: a fixed window lets
            # twice the limit through across a boundary (10 at 12:00:59, 10 more at 12:01:00),
            # and it made a test that hit 3 times against 2/minute pass or fail by the clock.
            "RATELIMIT_STRATEGY": "moving-window",
            "SMTP_URL": self.smtp_url,
            "MAIL_FROM": self.mail_from,
            "DEV_MAIL_DIR": DEV_MAIL_DIR,
            "ARGON2_TIME_COST": self.argon2_time_cost,
            "ARGON2_MEMORY_COST": self.argon2_memory_cost,
            "LOG_LEVEL": self.log_level,
            "PROXY_HOPS": self.proxy_hops,
            "PROXY_ALLOW": self.proxy_allow,
            "SESSION_LIFETIME_HOURS": self.session_hours,
            "SESSION_REMEMBER_DAYS": self.session_remember_days,
            "SESSION_IDLE_HOURS": self.session_idle_hours,
            "SESSION_ROTATE_HOURS": self.session_rotate_hours,
            "PREFERRED_URL_SCHEME": "https" if secure else "http",
            "GOOGLE_CLIENT_ID": self.google_client_id,
            "GOOGLE_CLIENT_SECRET": self.google_client_secret,
            "GOOGLE_DISCOVERY_URL": self.google_discovery_url,
            "METRICS_ALLOW": self.metrics_allow,
            "METRICS_TOKEN": self.metrics_token,
            **self.extra,
        }


def limiter_storage_uri(redis_url: str) -> str:
    """Flask-Limiter spells a Redis unix socket `redis+unix://`."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url


def _require(env: Mapping[str, str], name: str, hint: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: {hint}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range ({low}..{high})")
    return value


def _database_url(env: Mapping[str, str]) -> str:
    url = _require(
        env,
        "DATABASE_URL",
        "give a PostgreSQL URL such as postgresql://user:pass@host:5432/blog "
        "(`make run` starts an embedded PostgreSQL when it is unset)",
    )
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme in ("postgres", "postgresql"):
        url = "postgresql+psycopg2" + url[len(scheme) :]
    elif scheme != "postgresql+psycopg2":
        raise ConfigError(
            f"DATABASE_URL has scheme {scheme!r}: only postgresql:// URLs are supported"
        )
    if not parts.path.strip("/"):
        raise ConfigError("DATABASE_URL names no database (the path after the host is empty)")
    if not parts.hostname and "host=" not in parts.query:
        raise ConfigError("DATABASE_URL names no host (and no ?host=/socket/dir)")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL has a bad port: {exc}") from None
    return url


def _redis_url(env: Mapping[str, str]) -> str:
    url = _require(
        env,
        "REDIS_URL",
        "give a Redis URL such as redis://localhost:6379/0 "
        "(`make run` starts an embedded Redis when it is unset)",
    )
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"REDIS_URL has scheme {parts.scheme!r}: use redis://, rediss:// or unix://"
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigError("REDIS_URL unix:// needs a socket path")
        return url
    if not parts.hostname:
        raise ConfigError("REDIS_URL names no host")
    try:
        parts.port  # noqa: B018
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL has a bad port: {exc}") from None
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ConfigError(f"REDIS_URL database {db!r} is not a number")
    return url


def _site_url(env: Mapping[str, str], environment: str, port: int) -> str:
    raw = env.get("BLOG_SITE_URL", "").strip()
    if not raw:
        if environment == "production":
            raise ConfigError(
                "BLOG_SITE_URL is not set: production needs the public https:// address "
                "(it builds links in mail and checks websocket origins)"
            )
        return f"http://127.0.0.1:{port}"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"BLOG_SITE_URL={raw!r} is not an http(s):// URL with a host")
    if environment == "production" and parts.scheme != "https":
        raise ConfigError("BLOG_SITE_URL must be https:// in production")
    return raw.rstrip("/")


def _secret_key(env: Mapping[str, str], environment: str) -> str:
    key = env.get("BLOG_SECRET_KEY", "").strip()
    if key:
        if environment == "production" and len(key) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"BLOG_SECRET_KEY is too short ({len(key)} characters; production needs "
                f"{MIN_SECRET_LENGTH}+, e.g. from `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`)"
            )
        return key
    if environment == "production":
        raise ConfigError("BLOG_SECRET_KEY is not set: production refuses to start without one")
    if environment == "testing":
        return secrets.token_urlsafe(48)
    return development_secret_key()


def development_secret_key() -> str:
    """Generate once and keep under var/, so dev sessions survive a restart."""
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once must agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _vapid(env: Mapping[str, str], environment: str, site_url: str) -> dict[str, object]:
    """Web push settings: the VAPID key pair, its contact (`sub`), and which push services
    subscriptions may point at.

    BLOG_VAPID_PRIVATE_KEY is the application server's P-256 private key, as the base64url of
    its 32-byte value (what `vapid --gen` and most guides print) or a PEM block; the public key
    that browsers subscribe with is derived from it. Unset in production: web push is off (the
    preferences page says so). Development generates a pair once and keeps it under var/;
    tests get a fresh one per app.
    """
    from blog.core.vapid import VapidKeyError, generate_private_key, load_private_key

    raw = env.get("BLOG_VAPID_PRIVATE_KEY", "").strip()
    if not raw and environment == "development":
        raw = development_vapid_key()
    elif not raw and environment == "testing":
        raw = generate_private_key()
    config: dict[str, object] = {"VAPID_PRIVATE_KEY": None, "VAPID_PUBLIC_KEY": None}
    if raw:
        try:
            key = load_private_key(raw.replace("\\n", "\n"))
        except VapidKeyError as exc:
            raise ConfigError(f"BLOG_VAPID_PRIVATE_KEY is not usable: {exc}") from None
        config["VAPID_PRIVATE_KEY"] = key.private_b64
        config["VAPID_PUBLIC_KEY"] = key.public_b64
        public = env.get("BLOG_VAPID_PUBLIC_KEY", "").strip().rstrip("=")
        if public and public != key.public_b64:
            raise ConfigError(
                "BLOG_VAPID_PUBLIC_KEY does not belong to BLOG_VAPID_PRIVATE_KEY (it can be "
                "left unset: it is derived from the private key)"
            )
    elif env.get("BLOG_VAPID_PUBLIC_KEY", "").strip():
        raise ConfigError("BLOG_VAPID_PUBLIC_KEY is set but BLOG_VAPID_PRIVATE_KEY is not")
    subject = env.get("BLOG_VAPID_SUBJECT", "").strip()
    if subject:
        # What push services (and pywebpush's check) accept: mailto:someone@host.domain, or
        # https://host.domain with no port or path.
        if not re.fullmatch(r"mailto:[^@\s]+@[\w.-]+|https://[\w-]+(\.[\w-]+)+", subject):
            raise ConfigError(
                f"BLOG_VAPID_SUBJECT={subject!r} must be a mailto: address or an https:// origin "
                "without port or path (push services use it to reach the operator)"
            )
    elif site_url.startswith("https://") and "." in (urlsplit(site_url).hostname or ""):
        subject = f"https://{urlsplit(site_url).hostname}"
    else:
        subject = "mailto:webmaster@localhost"
    config["VAPID_SUBJECT"] = subject
    hosts_raw = env.get("BLOG_PUSH_ALLOWED_HOSTS", "").strip()
    hosts = (
        tuple(h.strip().lower().lstrip(".") for h in hosts_raw.split(",") if h.strip())
        if hosts_raw
        else DEFAULT_PUSH_HOSTS
    )
    for host in hosts:
        if any(c in host for c in "/:@ *"):
            raise ConfigError(f"BLOG_PUSH_ALLOWED_HOSTS entry {host!r} is not a host name")
    config["PUSH_ALLOWED_HOSTS"] = hosts
    # Plain http to 127.0.0.1/localhost: only outside production, for the tests' push service.
    config["PUSH_ALLOW_LOOPBACK"] = environment in ("testing", "development")
    return config


def development_vapid_key() -> str:
    """Generate the development VAPID private key once and keep it under var/ (like the
    secret key), so browsers' subscriptions survive a restart."""
    from blog.core.vapid import generate_private_key

    path = VAR_DIR / "vapid_private_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _trusted_hosts(env: Mapping[str, str], site_url: str, environment: str) -> tuple[str, ...]:
    raw = env.get("BLOG_TRUSTED_HOSTS", "").strip()
    if raw:
        hosts = tuple(h.strip() for h in raw.split(",") if h.strip())
        for host in hosts:
            if any(c in host for c in "/ @"):
                raise ConfigError(f"BLOG_TRUSTED_HOSTS entry {host!r} is not a host name")
        return hosts
    host = urlsplit(site_url).hostname or ""
    if environment == "production":
        return (host,)
    return tuple(dict.fromkeys((host, "127.0.0.1", "localhost")))


def _smtp_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("BLOG_SMTP_URL", "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
        raise ConfigError(
            f"BLOG_SMTP_URL={raw!r}: use smtp://host:port, smtps://… or smtp+starttls://…"
        )
    try:
        parts.port  # noqa: B018
    except ValueError as exc:
        raise ConfigError(f"BLOG_SMTP_URL has a bad port: {exc}") from None
    return raw


def _google(env: Mapping[str, str]) -> tuple[str | None, str | None, str]:
    """Client id, secret and discovery URL of Google sign-in: both credentials or neither."""
    client_id = env.get("BLOG_GOOGLE_CLIENT_ID", "").strip() or None
    secret = env.get("BLOG_GOOGLE_CLIENT_SECRET", "").strip() or None
    if bool(client_id) != bool(secret):
        missing = "BLOG_GOOGLE_CLIENT_SECRET" if client_id else "BLOG_GOOGLE_CLIENT_ID"
        raise ConfigError(
            f"{missing} is not set: Google sign-in needs both the client id and the secret "
            "(or neither, to turn it off)"
        )
    url = env.get("BLOG_GOOGLE_DISCOVERY_URL", "").strip() or GOOGLE_DISCOVERY_URL
    parts = urlsplit(url)
    # Plain http only on loopback (a provider the tests run); anywhere else the discovery
    # document, and so the keys that sign ID tokens, must come over TLS.
    if not parts.hostname or not (
        parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)
    ):
        raise ConfigError(
            f"BLOG_GOOGLE_DISCOVERY_URL={url!r} must be an https:// URL "
            "(http:// only on 127.0.0.1 or localhost)"
        )
    return client_id, secret, url


def _networks(name: str, raw: str) -> tuple[IPv4Network | IPv6Network, ...]:
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(f"{name} entry {part!r} is not an IP address or network") from None
    return tuple(networks)


def _proxy_allow(env: Mapping[str, str], hops: int) -> tuple[IPv4Network | IPv6Network, ...]:
    networks = _networks("BLOG_PROXY_ALLOW", env.get("BLOG_PROXY_ALLOW", ""))
    if networks and hops == 0:
        raise ConfigError(
            "BLOG_PROXY_ALLOW is set but BLOG_PROXY_HOPS is 0: say how many proxies append "
            "X-Forwarded-For (or unset BLOG_PROXY_ALLOW)"
        )
    return networks


def _metrics(env: Mapping[str, str]) -> tuple[tuple[IPv4Network | IPv6Network, ...], str | None]:
    raw = env.get("BLOG_METRICS_ALLOW", "").strip() or "127.0.0.1/32,::1/128"
    networks = _networks("BLOG_METRICS_ALLOW", raw)
    token = env.get("BLOG_METRICS_TOKEN", "").strip() or None
    if token is not None and len(token) < 24:
        raise ConfigError("BLOG_METRICS_TOKEN is too short (24+ characters)")
    return networks, token


def _uploads(env: Mapping[str, str]) -> dict[str, object]:
    """Where uploaded files live: the local disk (default) or an S3-compatible object store,
    which a deployment with several web hosts needs (they must all see the same blobs)."""
    backend = env.get("BLOG_UPLOADS_BACKEND", "").strip().lower() or "local"
    if backend not in ("local", "s3"):
        raise ConfigError(f"BLOG_UPLOADS_BACKEND={backend!r} is not 'local' or 's3'")
    directory = env.get("BLOG_UPLOADS_DIR", "").strip()
    config: dict[str, object] = {
        "UPLOADS_BACKEND": backend,
        "UPLOADS_DIR": Path(directory) if directory else VAR_DIR / "uploads",
    }
    if backend == "s3":
        bucket = _require(env, "BLOG_S3_BUCKET", "the S3 storage backend needs a bucket name")
        endpoint = env.get("BLOG_S3_ENDPOINT_URL", "").strip() or None
        if endpoint:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"BLOG_S3_ENDPOINT_URL={endpoint!r} is not an http(s):// URL")
        key_id = env.get("BLOG_S3_ACCESS_KEY_ID", "").strip() or None
        secret = env.get("BLOG_S3_SECRET_ACCESS_KEY", "").strip() or None
        if bool(key_id) != bool(secret):
            raise ConfigError(
                "BLOG_S3_ACCESS_KEY_ID and BLOG_S3_SECRET_ACCESS_KEY go together (or neither, "
                "for boto3's own credential chain)"
            )
        config["UPLOADS_S3"] = {
            "bucket": bucket,
            "endpoint_url": endpoint,
            "region_name": env.get("BLOG_S3_REGION", "").strip() or "us-east-1",
            "aws_access_key_id": key_id,
            "aws_secret_access_key": secret,
        }
    return config


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise ConfigError naming the first bad one."""
    env = os.environ if env is None else env
    environment = env.get("BLOG_ENV", "production").strip() or "production"
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"BLOG_ENV={environment!r} is not one of {', '.join(ENVIRONMENTS)}")
    port = _int(env, "PORT", 5000, 1, 65535)
    site_url = _site_url(env, environment, port)
    log_level = env.get("BLOG_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"BLOG_LOG_LEVEL={log_level!r} is not DEBUG, INFO, WARNING or ERROR")
    cheap_hashes = environment == "testing"
    extra: dict[str, object] = {}
    # Test hook, honoured only in testing: `flask worker` subprocesses load the tests' handlers.
    if environment == "testing" and env.get("BLOG_TEST_HANDLER_MODULES", "").strip():
        modules = env["BLOG_TEST_HANDLER_MODULES"].split(",")
        extra["OUTBOX_EXTRA_HANDLER_MODULES"] = tuple(m.strip() for m in modules if m.strip())
    extra.update(_uploads(env))
    extra.update(_vapid(env, environment, site_url))
    google_client_id, google_client_secret, google_discovery_url = _google(env)
    metrics_allow, metrics_token = _metrics(env)
    proxy_hops = _int(env, "BLOG_PROXY_HOPS", 0, 0, 5)
    return Settings(
        env=environment,
        secret_key=_secret_key(env, environment),
        database_url=_database_url(env),
        redis_url=_redis_url(env),
        site_url=site_url,
        trusted_hosts=_trusted_hosts(env, site_url, environment),
        port=port,
        log_level=log_level,
        max_content_length=_int(
            env, "BLOG_MAX_CONTENT_LENGTH", 1024 * 1024, 1024, 1024 * 1024 * 1024
        ),
        smtp_url=_smtp_url(env),
        mail_from=env.get("BLOG_MAIL_FROM", "").strip() or "Blog <no-reply@localhost>",
        # Tests hash hundreds of passwords; production keeps argon2-cffi's RFC 9106 defaults.
        argon2_time_cost=_int(env, "BLOG_ARGON2_TIME_COST", 1 if cheap_hashes else 3, 1, 20),
        argon2_memory_cost=_int(
            env, "BLOG_ARGON2_MEMORY_COST", 8 * 1024 if cheap_hashes else 64 * 1024, 8, 4 << 20
        ),
        statement_timeout_ms=_int(env, "BLOG_STATEMENT_TIMEOUT_MS", 30_000, 100, 3_600_000),
        lock_timeout_ms=_int(env, "BLOG_LOCK_TIMEOUT_MS", 3_000, 100, 600_000),
        # How many reverse proxies in front of the app append X-Forwarded-For. 0 (the default)
        # trusts none: a client could otherwise pick its own address for the rate limiter.
        proxy_hops=proxy_hops,
        # Only these peers (the proxy hosts) may set the forwarded headers; a client that
        # reaches a web host directly, past the proxy, is taken at its own address.
        proxy_allow=_proxy_allow(env, proxy_hops),
        session_hours=_int(env, "BLOG_SESSION_HOURS", 12, 1, 24 * 30),
        session_remember_days=_int(env, "BLOG_SESSION_REMEMBER_DAYS", 30, 1, 365),
        session_idle_hours=_int(env, "BLOG_SESSION_IDLE_HOURS", 72, 1, 24 * 365),
        session_rotate_hours=_int(env, "BLOG_SESSION_ROTATE_HOURS", 24, 1, 24 * 30),
        google_client_id=google_client_id,
        google_client_secret=google_client_secret,
        google_discovery_url=google_discovery_url,
        metrics_allow=metrics_allow,
        metrics_token=metrics_token,
        extra=extra,
    )
