"""The gallery: the main pages at 1280 and 390 px, light and dark, as PNGs in docs/screenshots.

    make screenshots                          # the product's own demo, started for the shots
    python scripts/screenshots.py --url http://127.0.0.1:5000 --only home,post

With --url (or BLOG_URL) it photographs a running site; without, it starts the whole product
(`python -m blog.devserver`: embedded PostgreSQL and Redis with the demo data) on a free port
and stops it afterwards. Signs in as the demo admin (the widest navigation) for the signed-in
pages and takes the sign-in and sign-up pages signed out. Files: <page>-<width>-<scheme>.png.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = {1280: 900, 390: 844}
SCHEMES = ("light", "dark")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _first_link(page: Page, url: str, pattern: str) -> str | None:
    page.goto(url)
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
        if href and re.match(pattern, href):
            return str(href)
    return None


def _sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit] >> text=Sign in")
    page.wait_for_load_state("networkidle")


@contextlib.contextmanager
def _product() -> Iterator[str]:
    """The whole product on a free port, for as long as the shots take."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PORT": str(port), "BLOG_SITE_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen([sys.executable, "-m", "blog.devserver"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the product stopped (exit {proc.returncode}) before answering")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(url + "/healthz", timeout=1),  # noqa: S310 - loopback
            ):
                break
            if time.monotonic() > deadline:
                raise SystemExit("the product did not answer /healthz within 120 s")
            time.sleep(0.5)
        time.sleep(2)  # the workers relay the demo's events (badges, notifications)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=os.environ.get("BLOG_URL", ""))
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--only", default="", help="comma-separated page names")
    parser.add_argument("--email", default="admin@example.com")
    parser.add_argument("--password", default="Admin-demo-2026")
    args = parser.parse_args()
    if args.url:
        return shoot(args.url.rstrip("/"), args)
    with _product() as url:
        return shoot(url, args)


def shoot(base: str, args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = {name for name in args.only.split(",") if name}
    chromium = os.environ.get("BLOG_CHROMIUM", "/usr/bin/chromium")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        anon = browser.new_context()
        signed = browser.new_context()
        _sign_in(signed.new_page(), base, args.email, args.password)
        probe = signed.new_page()
        post = _first_link(probe, base + "/", r"^/posts/[^/]+$") or "/"
        tag = _first_link(probe, base + "/tags", r"^/tags/[^/]+$") or "/tags"
        conversation = _first_link(probe, base + "/chat", r"^/chat/[0-9a-f-]{36}$") or "/chat"
        probe.close()
        pages = [
            ("home", base + "/", signed),
            ("post", base + post, signed),
            ("tag", base + tag, signed),
            ("search", base + "/search?q=the", signed),
            ("write", base + "/write", signed),
            ("chat", base + "/chat", signed),
            ("conversation", base + conversation, signed),
            ("notifications", base + "/notifications", signed),
            ("preferences", base + "/notifications/preferences", signed),
            ("account", base + "/account", signed),
            ("admin", base + "/admin/", signed),
            ("database", base + "/admin/database", signed),
            ("users", base + "/admin/users", signed),
            ("signin", base + "/login", anon),
            ("signup", base + "/register", anon),
        ]
        for name, url, context in pages:
            if only and name not in only:
                continue
            for width, height in WIDTHS.items():
                for scheme in SCHEMES:
                    page = context.new_page()
                    page.set_viewport_size({"width": width, "height": height})
                    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
                    page.goto(url)
                    page.wait_for_load_state("networkidle")
                    path = out / f"{name}-{width}-{scheme}.png"
                    page.screenshot(path=str(path), full_page=False)
                    page.close()
                    print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
