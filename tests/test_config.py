"""Configuration: each bad value stops start-up with one line naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from blog.config import PROJECT_ROOT, ConfigError, load_settings

BASE = {
    "BLOG_ENV": "production",
    "BLOG_SECRET_KEY": "k" * 48,
    "DATABASE_URL": "postgresql://blog:pw@db.internal:5432/blog",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "BLOG_SITE_URL": "https://blog.example.org",
}


def test_a_good_production_configuration_loads():
    settings = load_settings(BASE)
    assert settings.is_production
    cfg = settings.flask_config()
    assert cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg2://")
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["SESSION_COOKIE_HTTPONLY"] is True
    assert cfg["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert cfg["AUTH_COOKIE_NAME"].startswith("__Host-")
    assert cfg["TRUSTED_HOSTS"] == ["blog.example.org"]
    assert cfg["WTF_CSRF_TIME_LIMIT"] is None
    assert cfg["MAX_CONTENT_LENGTH"] == 1024 * 1024
    engine = cfg["SQLALCHEMY_ENGINE_OPTIONS"]
    assert engine["pool_size"] == 10
    assert engine["pool_timeout"] == 30
    assert engine["pool_pre_ping"] is True
    assert "statement_timeout" in engine["connect_args"]["options"]


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"BLOG_ENV": "staging"}, "BLOG_ENV"),
        ({"BLOG_SECRET_KEY": ""}, "BLOG_SECRET_KEY is not set"),
        ({"BLOG_SECRET_KEY": "short"}, "BLOG_SECRET_KEY is too short"),
        ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL has scheme 'mysql'"),
        ({"DATABASE_URL": "postgresql://u@h:99999/db"}, "DATABASE_URL has a bad port"),
        ({"DATABASE_URL": "postgresql://u@h:5432/"}, "DATABASE_URL names no database"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"REDIS_URL": ""}, "REDIS_URL is not set"),
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL has scheme 'http'"),
        ({"REDIS_URL": "redis://cache:abc/0"}, "REDIS_URL has a bad port"),
        ({"REDIS_URL": "redis://cache:6379/zero"}, "REDIS_URL database 'zero'"),
        ({"PORT": "0"}, "PORT=0 is out of range"),
        ({"PORT": "70000"}, "PORT=70000 is out of range"),
        ({"PORT": "eighty"}, "PORT='eighty' is not a whole number"),
        ({"BLOG_PROXY_HOPS": "-1"}, "BLOG_PROXY_HOPS=-1 is out of range (0..5)"),
        ({"BLOG_PROXY_HOPS": "6"}, "BLOG_PROXY_HOPS=6 is out of range (0..5)"),
        ({"BLOG_PROXY_HOPS": "yes"}, "BLOG_PROXY_HOPS='yes' is not a whole number"),
        ({"BLOG_SITE_URL": ""}, "BLOG_SITE_URL is not set"),
        ({"BLOG_SITE_URL": "http://blog.example.org"}, "BLOG_SITE_URL must be https://"),
        ({"BLOG_SITE_URL": "blog.example.org"}, "BLOG_SITE_URL="),
        ({"BLOG_SMTP_URL": "mail.example.org"}, "BLOG_SMTP_URL="),
        ({"BLOG_LOG_LEVEL": "LOUD"}, "BLOG_LOG_LEVEL="),
        ({"BLOG_MAX_CONTENT_LENGTH": "-1"}, "BLOG_MAX_CONTENT_LENGTH=-1 is out of range"),
        ({"BLOG_TRUSTED_HOSTS": "good.example, bad/host"}, "BLOG_TRUSTED_HOSTS entry"),
        ({"BLOG_SESSION_HOURS": "0"}, "BLOG_SESSION_HOURS=0 is out of range"),
        ({"BLOG_SESSION_IDLE_HOURS": "soon"}, "BLOG_SESSION_IDLE_HOURS='soon'"),
        ({"BLOG_SESSION_ROTATE_HOURS": "-3"}, "BLOG_SESSION_ROTATE_HOURS=-3 is out of range"),
    ],
)
def test_bad_values_are_named(change, names):
    with pytest.raises(ConfigError) as excinfo:
        load_settings({**BASE, **change})
    message = str(excinfo.value)
    assert names in message
    assert "\n" not in message


def test_development_generates_and_keeps_a_secret_key(tmp_path, monkeypatch):
    from blog import config

    monkeypatch.setattr(config, "VAR_DIR", tmp_path)
    env = {**BASE, "BLOG_ENV": "development", "BLOG_SECRET_KEY": "", "BLOG_SITE_URL": ""}
    first = load_settings(env)
    second = load_settings(env)
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # readable by the owner only
    assert first.site_url == "http://127.0.0.1:5000"
    assert first.flask_config()["SESSION_COOKIE_SECURE"] is False


def test_postgres_scheme_is_normalised():
    settings = load_settings({**BASE, "DATABASE_URL": "postgres://u:p@h:5432/db"})
    assert settings.database_url == "postgresql+psycopg2://u:p@h:5432/db"


def test_start_up_with_a_bad_setting_prints_one_line_and_exits():
    env = {**BASE, "DATABASE_URL": "mysql://u@h/db", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "blog: configuration error: DATABASE_URL has scheme 'mysql': only "
        "postgresql:// URLs are supported"
    ]
    assert "Traceback" not in result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = {**BASE, "BLOG_SECRET_KEY": "", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "routes"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "BLOG_SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_proxy_hops_default_to_none_trusted():
    assert load_settings(BASE).flask_config()["PROXY_HOPS"] == 0
    assert load_settings({**BASE, "BLOG_PROXY_HOPS": "2"}).flask_config()["PROXY_HOPS"] == 2


# --------------------------------------------------------------------------- web push (VAPID)


def test_web_push_is_off_in_production_until_a_vapid_key_is_given():
    cfg = load_settings(BASE).flask_config()
    assert cfg["VAPID_PRIVATE_KEY"] is None
    assert cfg["VAPID_PUBLIC_KEY"] is None
    assert cfg["PUSH_ALLOW_LOOPBACK"] is False  # subscriptions must name a known push service
    assert "fcm.googleapis.com" in cfg["PUSH_ALLOWED_HOSTS"]


def test_a_vapid_key_from_the_environment_gives_its_public_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from blog.core.vapid import b64url

    key = ec.generate_private_key(ec.SECP256R1())
    raw = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    public = b64url(
        key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()

    for given in (raw, pem, pem.replace("\n", "\\n")):
        cfg = load_settings({**BASE, "BLOG_VAPID_PRIVATE_KEY": given}).flask_config()
        assert cfg["VAPID_PRIVATE_KEY"] == raw
        assert cfg["VAPID_PUBLIC_KEY"] == public
    cfg = load_settings(
        {**BASE, "BLOG_VAPID_PRIVATE_KEY": raw, "BLOG_VAPID_PUBLIC_KEY": public}
    ).flask_config()
    assert cfg["VAPID_SUBJECT"] == "https://blog.example.org"  # the operator's contact


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"BLOG_VAPID_PRIVATE_KEY": "not-a-key"}, "BLOG_VAPID_PRIVATE_KEY is not usable"),
        ({"BLOG_VAPID_PRIVATE_KEY": "A" * 43}, "BLOG_VAPID_PRIVATE_KEY is not usable"),
        ({"BLOG_VAPID_PUBLIC_KEY": "BAAA"}, "BLOG_VAPID_PRIVATE_KEY is not"),
        ({"BLOG_VAPID_SUBJECT": "ops@example.org"}, "BLOG_VAPID_SUBJECT='ops@example.org'"),
        ({"BLOG_VAPID_SUBJECT": "https://x.org:8443"}, "BLOG_VAPID_SUBJECT"),
        ({"BLOG_PUSH_ALLOWED_HOSTS": "https://fcm.googleapis.com"}, "BLOG_PUSH_ALLOWED_HOSTS"),
    ],
)
def test_bad_web_push_settings_are_named(change, names):
    with pytest.raises(ConfigError, match=names.replace("(", r"\(").replace(")", r"\)")):
        load_settings({**BASE, **change})


def test_a_vapid_public_key_that_does_not_match_is_refused():
    from blog.core.vapid import generate_private_key, load_private_key

    mine, other = generate_private_key(), load_private_key(generate_private_key())
    with pytest.raises(ConfigError, match="does not belong to BLOG_VAPID_PRIVATE_KEY"):
        load_settings(
            {**BASE, "BLOG_VAPID_PRIVATE_KEY": mine, "BLOG_VAPID_PUBLIC_KEY": other.public_b64}
        )


def test_development_generates_and_keeps_a_vapid_key(tmp_path, monkeypatch):
    from blog import config

    monkeypatch.setattr(config, "VAR_DIR", tmp_path)
    dev = {**BASE, "BLOG_ENV": "development", "BLOG_SITE_URL": "http://127.0.0.1:5000"}
    first = load_settings(dev).flask_config()
    second = load_settings(dev).flask_config()
    assert first["VAPID_PUBLIC_KEY"] is not None
    assert first["VAPID_PUBLIC_KEY"] == second["VAPID_PUBLIC_KEY"]
    assert (tmp_path / "vapid_private_key").stat().st_mode & 0o077 == 0
    assert first["PUSH_ALLOW_LOOPBACK"] is True
    assert first["VAPID_SUBJECT"] == "mailto:webmaster@localhost"


def test_proxy_allow_is_a_list_of_networks_and_needs_hops():
    settings = load_settings({**BASE, "BLOG_PROXY_HOPS": "1", "BLOG_PROXY_ALLOW": "10.0.0.30, ::1"})
    assert [str(n) for n in settings.flask_config()["PROXY_ALLOW"]] == ["10.0.0.30/32", "::1/128"]
    with pytest.raises(ConfigError, match="BLOG_PROXY_ALLOW entry 'proxy' is not an IP"):
        load_settings({**BASE, "BLOG_PROXY_HOPS": "1", "BLOG_PROXY_ALLOW": "proxy"})
    with pytest.raises(ConfigError, match="BLOG_PROXY_ALLOW is set but BLOG_PROXY_HOPS is 0"):
        load_settings({**BASE, "BLOG_PROXY_ALLOW": "10.0.0.30"})
