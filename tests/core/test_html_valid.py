"""The main pages are valid HTML, as the Nu HTML Checker (vnu, the W3C validator's engine) reads
them: no error other than htmx's own attributes (hx-*, ws-*), which no HTML standard knows.

vnu comes pinned from npm (vnu-jar in package.json) and runs on the machine's Java; all pages go
to one vnu process, so the JVM starts once.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from blog.config import PROJECT_ROOT

VNU = PROJECT_ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
# htmx's attributes and its websocket extension's; nothing else is forgiven.
HTMX_ATTRIBUTE = re.compile(r"Attribute “(hx-[a-z-]+|ws-connect|ws-send)” not allowed")


def _links(html: str, pattern: str) -> list[str]:
    return [h for h in re.findall(r'href="([^"]+)"', html) if re.match(pattern, h)]


def _pages(client: FlaskClient) -> dict[str, str]:
    home = client.get("/").get_data(as_text=True)
    post = _links(home, r"^/posts/[^/#?]+$")[0]
    tag = _links(client.get("/tags").get_data(as_text=True), r"^/tags/[^/]+$")[0]
    chat = client.get("/chat").get_data(as_text=True)
    conversation = _links(chat, r"^/chat/[0-9a-f-]{36}$")[0]
    paths = [
        "/",
        post,
        tag,
        "/tags",
        "/search?q=postgresql",
        "/write",
        "/chat",
        conversation,
        "/notifications",
        "/notifications/preferences",
        "/account",
        "/account/sessions",
        "/account/profile",
        "/admin/",
        "/admin/database",
        "/admin/users",
        "/menu",
    ]
    pages = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        pages[path] = response.get_data(as_text=True)
    return pages


def _validate(files: list[Path]) -> list[dict[str, str]]:
    java = shutil.which("java")
    assert java, "the Nu HTML Checker needs Java (`java` on PATH)"
    assert VNU.is_file(), "run `make install`: npm ci installs vnu-jar"
    done = subprocess.run(
        [java, "-jar", str(VNU), "--format", "json", "--exit-zero-always", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    return list(json.loads(done.stderr).get("messages", []))


def test_the_main_pages_are_valid_html(
    app: Flask, client: FlaskClient, sign_in, tmp_path: Path
) -> None:
    from blog.ops.demo import seed_demo_data

    with app.app_context():
        seed_demo_data()
    anonymous = {p: client.get(p).get_data(as_text=True) for p in ("/login", "/register", "/")}
    sign_in(client, "admin@example.com", "Admin-demo-2026")
    pages = {**{f"anonymous {p}": html for p, html in anonymous.items()}, **_pages(client)}
    files = []
    for n, html in enumerate(pages.values()):
        file = tmp_path / f"page-{n}.html"
        file.write_text(html)
        files.append(file)
    names = {f"file:{f}": name for f, name in zip(files, pages, strict=True)}

    errors = [
        f"{names.get(m.get('url', ''), m.get('url'))}:{m.get('lastLine')}: {m['message']}"
        for m in _validate(files)
        if m.get("type") == "error" and not HTMX_ATTRIBUTE.search(m.get("message", ""))
    ]
    assert not errors, "\n".join(errors)
