"""Access gates: one helper per role, and one for a confirmed email address. Each wraps a view
and answers (sign in first, 403, or the confirm-your-address notice) before it runs."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, redirect, request, url_for
from flask_login import current_user

F = TypeVar("F", bound=Callable[..., Any])


def safe_next(target: str | None, default: str = "/") -> str:
    """A same-site path to go back to after signing in; anything else becomes `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    # Control characters could split the Location header or hide a scheme from browsers.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def _sign_in_redirect() -> Any:
    from blog.core.htmx import is_htmx

    location = url_for("auth.login", next=request.full_path.rstrip("?"))
    if is_htmx():
        # htmx follows HX-Redirect with a full page load, keeping the swap target intact.
        return "", 401, {"HX-Redirect": location}
    return redirect(location)


def require_user(view: F) -> F:
    """Any signed-in, active user."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return _sign_in_redirect()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def require_verified(view: F) -> F:
    """A signed-in user whose email address is confirmed (to post, comment or chat).

    Others get a 403 with a notice that says why and offers to mail a new link; an htmx
    request gets the notice alone, shown beside the form that sent it.
    """

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return _sign_in_redirect()
        if not current_user.is_verified:
            return _unverified_notice()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _unverified_notice() -> Any:
    from blog.core.htmx import error_beside_form, render

    error_beside_form()  # beside the comment or chat form, not in the list it appends to

    # After "send a new link", come back here: this page for a GET, else the page the form
    # was on (never a POST-only address, which would answer 405).
    if request.method == "GET":
        back = request.full_path.rstrip("?")
    else:
        referrer = urlsplit(request.referrer or "")
        same_site = referrer.netloc == request.host
        back = referrer.path + (f"?{referrer.query}" if referrer.query else "") if same_site else ""
    next_url = safe_next(back, url_for("home.index"))
    return render("auth/unverified.html", "notice", next_url=next_url), 403


def require_moderator(view: F) -> F:
    """Moderators and admins."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return _sign_in_redirect()
        if not current_user.is_moderator:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def require_admin(view: F) -> F:
    """Admins only."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return _sign_in_redirect()
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
