"""Public profiles (/u/<user_name>), generated avatars, and editing your own profile."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, abort, flash, request, url_for
from flask_login import current_user

from blog.auth.access import require_user
from blog.auth.models import User
from blog.core.htmx import redirect_to, render
from blog.extensions import db
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
