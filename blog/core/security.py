"""Security headers on every response, and the request id that ties logs to a request."""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, has_request_context, request

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def content_security_policy(app: Flask) -> str:
    ws_origin = app.config["SITE_ORIGIN"].replace("http", "ws", 1)
    form_action = "form-action 'self'"
    if app.config.get("GOOGLE_CLIENT_ID"):
        # "Sign in with Google" is a form whose answer redirects to the provider, and
        # form-action governs that redirect too. The authorization endpoint lives on the
        # discovery document's origin (accounts.google.com for Google).
        discovery = urlsplit(app.config["GOOGLE_DISCOVERY_URL"])
        form_action += f" {discovery.scheme}://{discovery.netloc}"
    # No 'unsafe-inline' anywhere: htmx's indicator styles are switched off in base.html's
    # htmx-config, and every script is a file under /static.
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self' {ws_origin}",
            "object-src 'none'",
            "base-uri 'none'",
            form_action,
            "frame-ancestors 'none'",
        ]
    )


def standard_rate_limit_headers(response: Response) -> Response:
    """Flask-Limiter's X-RateLimit-* headers, as the IETF's RateLimit-* fields.

    RateLimit-Reset counts seconds from now (Flask-Limiter sends an epoch time), and a
    Retry-After belongs only to a refusal: Flask-Limiter adds one to every limited response.
    Registered before the limiter, so it runs after the limiter's own after_request.
    """
    headers = response.headers
    reset_at = headers.pop("X-RateLimit-Reset", None)
    if reset_at is None:
        return response
    headers["RateLimit-Limit"] = headers.pop("X-RateLimit-Limit", "")
    headers["RateLimit-Remaining"] = headers.pop("X-RateLimit-Remaining", "")
    with contextlib.suppress(ValueError):
        headers["RateLimit-Reset"] = str(max(0, int(float(reset_at) - time.time())))
    if response.status_code not in (429, 503):
        headers.pop("Retry-After", None)
    return response


def init_security(app: Flask) -> None:
    csp = content_security_policy(app)
    secure = app.config["SESSION_COOKIE_SECURE"]

    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)

    # First of all before_request hooks: CSRFProtect's (registered earlier) reads the body and
    # can end the request with a 413 or 400, and that error page and its log line need the id.
    app.before_request_funcs.setdefault(None, []).insert(0, assign_request_id)

    # Second: NUL, undecodable text, oversized forms and deep JSON never reach a view.
    from blog.core.inputs import init_inputs

    init_inputs(app)

    @app.before_request
    def refuse_cross_site_writes() -> None:
        check_request_origin()

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", csp)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if secure:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        if "request_id" not in g:  # a hook that ran before ours ended the request
            assign_request_id()
        headers["X-Request-ID"] = g.request_id
        # Pages carry per-user content: never let a shared cache keep them.
        if response.mimetype == "text/html":
            headers.setdefault("Cache-Control", "no-store")
        # htmx swaps a fragment into a page the browser already holds; say so to caches.
        headers.add("Vary", "HX-Request")
        return response


_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The signed token in the link is the authority, and mail clients POST it one-click (RFC 8058)
# from their own servers, with their own Origin or none.
ORIGIN_EXEMPT_ENDPOINTS = frozenset({"notifications.unsubscribe"})
# Pages reached through a mailed link send `Referrer-Policy: no-referrer` (their URL carries
# the secret), and under that policy browsers send `Origin: null` with the page's own form.
# There "null" is accepted: forging that POST needs the secret in the URL already.
NULL_ORIGIN_ENDPOINTS = frozenset(
    {"auth.verify_email", "auth.reset_password", "auth.confirm_email_change"}
)
CROSS_SITE = (
    "This form was sent from another site, so it was refused. If you sent it yourself, "
    "reload the page on this site and try again."
)


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_request_origin() -> None:
    """Security boundary, behind the CSRF token (defence in depth), as Django does it.

    A state-changing request must come from this site: its Origin header (every current
    browser sends one on a cross-site POST and on fetch/htmx requests) must be the site's
    origin or the origin the request was addressed to (the Host is checked against
    TRUSTED_HOSTS). Without an Origin, an HTTPS request must carry a same-origin Referer (a
    man in the middle of plain HTTP could forge either, so Django, and we, check Referer only
    for HTTPS); a plain-HTTP request with neither header is allowed, as in Django: old clients
    and privacy tools strip both, and the CSRF token still protects it. 403 otherwise.
    """
    if request.method not in _STATE_CHANGING or request.endpoint in ORIGIN_EXEMPT_ENDPOINTS:
        return
    from flask import current_app

    allowed = {
        current_app.config["SITE_ORIGIN"].lower(),
        f"{request.scheme}://{request.host}".lower(),
    }
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin == "null" and request.endpoint in NULL_ORIGIN_ENDPOINTS:
            return
        if origin.lower() not in allowed:  # "null" too: a sandboxed frame or a data: page
            abort(403, CROSS_SITE)
        return
    if not request.is_secure:
        return
    referer = request.headers.get("Referer")
    if not referer:
        abort(
            403,
            "This form was refused because your browser did not say which page sent it "
            "(no Referer header). Allow this site to send it and try again.",
        )
    if _origin_of(referer) not in allowed:
        abort(403, CROSS_SITE)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    # Idempotent: tests build many apps in one process.
    root.handlers = [h for h in root.handlers if not getattr(h, "_blog", False)]
    handler._blog = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


def log_extra(**fields: Any) -> dict[str, Any]:
    return {"extra": fields}
