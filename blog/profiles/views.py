"""Public profiles (/u/<user_name>), generated avatars, and editing your own profile."""

from __future__ import annotations

import re
import uuid

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    has_request_context,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from blog.auth.access import require_user, safe_next
from blog.auth.limits import limit, user_key
from blog.auth.models import User
from blog.core.htmx import is_htmx, keep_flashes, redirect_to, render
from blog.extensions import db, limiter
from blog.posts.queries import author_feed
from blog.profiles import services
from blog.profiles.forms import ProfileForm

bp = Blueprint("profiles", __name__)

PROFILE_POSTS = 10  # the newest; the author page (/u/<user_name>/posts) pages through all


@bp.get("/u/<user_name>")
def show(user_name: str):
    user = services.get_public_user(user_name)
    if user is None:
        abort(404)
    page = author_feed(user, None, size=PROFILE_POSTS)
    return render("profiles/show.html", user=user, posts=page.posts, more=page.next_cursor)


@bp.get("/avatars/<uuid:user_id>.svg")
def avatar(user_id: uuid.UUID):
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        abort(404)
    response = Response(
        services.avatar_svg(user.id, services.initials(user)), mimetype="image/svg+xml"
    )
    # Our own markup, but an SVG opened on its own is a document: let it run nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.add_etag()
    return response.make_conditional(request)


@bp.route("/account/profile", methods=["GET", "POST"])
@require_user
def edit():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        services.update_profile(
            current_user, display_name=form.display_name.data, bio=form.bio.data
        )
        db.session.commit()
        flash("Your profile has been saved.", "success")
        return redirect_to(url_for("profiles.show", user_name=current_user.user_name))
    status = 422 if form.is_submitted() else 200
    return render("profiles/edit.html", "form", form=form), status


# --------------------------------------------------------------------------- appearance

THEMES = ("system", "light", "dark")
THEME_COOKIE = "theme"


@bp.app_context_processor
def _theme() -> dict[str, str]:
    """The colour scheme of the page: the person's choice, a visitor's cookie, else the
    system's (no data-theme attribute: Pico follows prefers-color-scheme)."""
    return {"ui_theme": current_theme()}


def current_theme() -> str:
    if not has_request_context():  # mail and socket fragments: no page, no scheme
        return "system"
    choice = None
    if current_user.is_authenticated:
        choice = current_user.theme
    else:
        choice = request.cookies.get(THEME_COOKIE)
    return choice if choice in THEMES else "system"


@bp.post("/appearance")
def appearance():
    """Choose light, dark or the system's colour scheme: kept on the account when signed in,
    in a cookie for visitors (and in both, so signing out keeps the page as it was)."""
    theme = request.form.get("theme", "")
    back = safe_next(request.form.get("next"), url_for("home.index"))
    response = redirect_to(back)
    if not is_htmx():
        response.status_code = 303
    if theme not in THEMES:
        flash("Choose a theme: system, light or dark.", "error")
        return response
    if current_user.is_authenticated:
        services.set_theme(current_user, theme)
        db.session.commit()
    response.set_cookie(
        THEME_COOKIE,
        theme,
        max_age=365 * 24 * 3600,
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        httponly=True,
        samesite="Lax",
    )
    return response


@bp.get("/people/suggest")
@limiter.limit(limit("preview"), key_func=user_key)
@require_user
def suggest():
    """The @mention suggestions for what is typed after "@": a listbox fragment (up to 8)."""
    keep_flashes()
    typed = request.args.get("q", "")[:100].replace("\x00", "")
    people = services.suggest_people(typed)
    # The id of the field that asked, to name the listbox and its options after it.
    field = re.sub(r"[^\w-]", "", request.args.get("for", ""))[:80] or "text"
    return render_template("profiles/_mention_options.html", people=people, field=field)
