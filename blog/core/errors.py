"""Friendly error pages, and fragment versions for htmx requests. Never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, SecurityError

from blog.core.htmx import error_beside_form, is_htmx, mark_error_answer

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Page not found",
    405: "Method not allowed",
    413: "Too large",
    415: "Unsupported type",
    422: "Cannot process",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}

MESSAGES = {
    400: "The request could not be understood.",
    403: "You do not have access to this page.",
    404: "There is nothing here. The link may be old, or the page may have been removed.",
    405: "That action is not allowed here.",
    413: "What you sent is larger than we accept.",
    429: "You are doing that too often. Please wait a little and try again.",
    500: "We hit an unexpected error. It has been logged; please try again.",
    503: "A service we depend on is unavailable. Please try again shortly.",
}


def render_error(
    code: int,
    message: str | None = None,
    *,
    come_back: str | None = None,
    links: Sequence[tuple[str, str]] | None = None,
) -> tuple[str, int]:
    """The error page; for an htmx request, a short message that the page shows beside the
    form (or element) that sent the request, never in its target (error_beside_form).
    `come_back`: when to try again. `links`: (label, href) pairs offered instead of "Go to the
    front page", for an error the front page shares (maintenance); an empty sequence offers no
    link."""
    context = {
        "code": code,
        "title": TITLES.get(code, "Error"),
        "message": message or MESSAGES.get(code, "The request failed."),
        "come_back": come_back,
        "links": links,
    }
    if is_htmx():
        error_beside_form()
        return render_template("errors/_request_error.html", **context), code
    return render_template("errors/error.html", **context), code


def init_errors(app: Flask) -> None:
    app.after_request(mark_error_answer)

    @app.errorhandler(SecurityError)
    def untrusted_host(exc: SecurityError) -> tuple[str, int, dict[str, str]]:
        # The page templates build URLs from the Host header, which is exactly what is
        # untrusted here: answer with a fixed body.
        return (
            "Bad request: this host name is not served here.\n",
            400,
            {"Content-Type": "text/plain; charset=utf-8"},
        )

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[str, int]:
        return render_error(
            400, "Your form expired or was sent from elsewhere. Reload the page and try again."
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = exc.code or 500
        if code < 400:  # redirects raised as exceptions (RequestRedirect) pass through
            return exc
        # Werkzeug's stock descriptions (and Flask-Limiter's "10 per 1 minute") are written for
        # developers; ours for people. A description given to abort() is kept.
        description = exc.description if code not in (429, 500) else None
        if description and description == type(exc).description:
            description = None
        body, status = render_error(code, description)
        response = app.make_response((body, status))
        if code == 429:
            retry_after = getattr(exc, "retry_after", None) or _retry_after(exc)
            response.headers["Retry-After"] = str(retry_after)
        if code == 503:  # the database gate was full: a moment's wait is enough
            response.headers.setdefault("Retry-After", str(DATABASE_RETRY_AFTER))
        if code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(exc: Exception):
        # OperationalError covers a server that is down or restarting, a connection that broke,
        # and a statement that waited out lock_timeout or statement_timeout.
        log.error("database unavailable: %s", getattr(exc, "orig", None) or exc)
        return _database_outage_page(app)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[str, int]:
        if isinstance(exc, HTTPException):  # pragma: no cover - handled above
            raise exc
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            log.error("database connection lost: %s", exc.orig)  # the server went away
            return _database_outage_page(app)
        log.exception("unhandled error")
        # A failed statement leaves the session's transaction aborted; the error page (its nav
        # reads the signed-in user and the badge) must not fail on it in turn.
        _rollback_quietly()
        return render_error(500)


# Seconds a client should wait after a database outage page: a restart takes a few.
DATABASE_RETRY_AFTER = 5


def _database_outage_page(app: Flask):
    _rollback_quietly()
    # The page's header shows who is signed in and their badge counts, both read from the
    # database that just failed; a second failure inside this handler would escape as a bare
    # "Internal Server Error". The page is rendered for an anonymous visitor instead.
    _forget_user()
    body, status = render_error(503, "The database is unavailable. Please try again shortly.")
    response = app.make_response((body, status))
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return response


def _forget_user() -> None:
    from flask import g

    from blog.extensions import login_manager

    g._login_user = login_manager.anonymous_user()


def _retry_after(exc: HTTPException) -> int:
    limit = getattr(exc, "limit", None)
    if limit is not None:
        try:
            return int(limit.limit.get_expiry())
        except Exception:  # noqa: BLE001 - a missing figure must not break the 429 page
            return 60
    return 60


def _rollback_quietly() -> None:
    from blog.extensions import db

    try:
        db.session.rollback()
    except Exception:
        log.debug("rollback after an error failed", exc_info=True)
