"""deploy/: nginx accepts the site file, systemd accepts the units, the example environment
passes the app's own start-up checks, and the proxy's limits agree with the app's."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from blog.config import PROJECT_ROOT, load_settings

DEPLOY = PROJECT_ROOT / "deploy"
SITE = DEPLOY / "nginx" / "blog.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CERT_LINES = re.compile(r"^(\s*ssl_certificate(?:_key)?\s+)(\S+);", re.MULTILINE)


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=blog.example.org", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def nginx_check(site_text: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the site inside a minimal nginx.conf of our own (the machine's own
    configuration is not read). Only the certificate paths are replaced: the site names
    Let's Encrypt's, which do not exist here."""
    cert, key = self_signed(directory)
    paths = iter((cert, key))
    site, count = CERT_LINES.subn(lambda m: f"{m.group(1)}{next(paths)};", site_text)
    assert count == 2, "the site names one certificate and one key"
    (directory / "blog.conf").write_text(site)
    (directory / "nginx.conf").write_text(
        f"pid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log;\n"
        "events {}\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        f"    include {directory}/blog.conf;\n"
        "}\n"
    )
    assert Path(NGINX).exists(), "nginx is missing: `make test` installs it (scripts/ensure-nginx)"
    return subprocess.run(
        [NGINX, "-t", "-p", str(directory), "-c", str(directory / "nginx.conf")],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_nginx_accepts_the_site(tmp_path):
    result = nginx_check(SITE.read_text(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_check_catches_a_broken_site(tmp_path):
    # The check can fail: a typo in a directive is refused.
    broken = SITE.read_text().replace("proxy_read_timeout 75s;", "proxy_read_timeuot 75s;")
    result = nginx_check(broken, tmp_path)
    assert result.returncode != 0
    assert "proxy_read_timeuot" in result.stderr


def test_the_site_upgrades_ws_and_forwards_the_client():
    site = SITE.read_text()
    ws = site[site.index("location = /ws") :]
    ws = ws[: ws.index("}")]
    assert "proxy_set_header Upgrade $http_upgrade;" in ws
    assert "proxy_set_header Connection $blog_connection;" in ws
    assert "proxy_http_version 1.1;" in ws
    for block in (ws, site[site.index("location / {") :]):
        assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in block
        assert "proxy_set_header X-Forwarded-Proto $scheme;" in block
    timeout = re.search(r"proxy_read_timeout (\d+)s;", ws)
    assert timeout is not None
    assert int(timeout[1]) > 25  # outlives the server's ping interval


def test_the_body_limit_lets_the_largest_upload_through():
    from blog.uploads.services import FORM_OVERHEAD_BYTES, UPLOADS

    size = re.search(r"client_max_body_size (\d+)m;", SITE.read_text())
    assert size is not None
    assert int(size[1]) * 1024 * 1024 >= UPLOADS.default["max_bytes"] + FORM_OVERHEAD_BYTES


def test_the_example_environment_passes_the_start_up_checks():
    env = {}
    for line in (DEPLOY / "blog.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    settings = load_settings(env)
    assert settings.is_production
    assert settings.proxy_hops == 1
    assert settings.extra["UPLOADS_BACKEND"] == "s3"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
def test_systemd_accepts_the_units(tmp_path):
    # The units name the install path /srv/blog; verify checks that ExecStart exists, so point
    # them at this checkout's .venv (the only change).
    units = sorted((DEPLOY / "systemd").iterdir())
    for unit in units:
        (tmp_path / unit.name).write_text(unit.read_text().replace("/srv/blog", str(PROJECT_ROOT)))
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / u.name) for u in units)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # It exits 0 even for unknown keys: any line it prints is a finding.
    assert result.returncode == 0, result.stderr
    assert not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_exactly_one_cron_unit():
    units = {u.name: u.read_text() for u in (DEPLOY / "systemd").iterdir()}
    assert [name for name, text in units.items() if " cron" in text and "ExecStart" in text] == [
        "blog-cron.service"
    ]
    assert "EXACTLY ONE" in units["blog-cron.service"]


def test_the_units_run_the_readmes_production_commands():
    block = (PROJECT_ROOT / "README.md").read_text().split("## Production in short", 1)[1]
    commands = {line.split("#", 1)[0].strip() for line in block.split("```")[1].splitlines()}
    for unit in (DEPLOY / "systemd").glob("*.service"):
        start = re.search(r"^ExecStart=/srv/blog/\.venv/bin/(.+)$", unit.read_text(), re.M)
        assert start is not None, unit.name
        assert start[1] in commands, (unit.name, start[1])
