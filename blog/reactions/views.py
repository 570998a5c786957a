"""Likes and bookmarks: the heart and Save buttons (htmx swaps the button itself; without
JavaScript a plain form POST and a redirect back), and /saved. Thin: parse, check access,
call a service, commit, respond."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, flash, render_template, request, url_for
from flask_login import current_user

from blog.auth.access import require_user, require_verified
from blog.auth.limits import limit, user_key
from blog.comments.access import access_comment
from blog.core.htmx import is_htmx, redirect_to, render
from blog.extensions import db, limiter
from blog.posts import queries
from blog.posts.access import access_post
from blog.posts.models import Post
from blog.reactions import live as _live  # noqa: F401 - registers the post.subscribe message
from blog.reactions import services
from blog.reactions.ui import save_button_html

bp = Blueprint("reactions", __name__)


def init_reactions(app: Flask) -> None:
    # The post page and the comment thread read the viewer's marks without knowing how.
    app.jinja_env.globals["viewer_marks"] = services.viewer_marks
    app.jinja_env.globals["_reactions_save_button_html"] = save_button_html
    # The post cards' macro (templates/posts/_macros.html) is imported without the page's
    # context: it sees the viewer (for its Save button) as a global.
    app.jinja_env.globals.setdefault("current_user", current_user)


def _wanted() -> bool:
    """The state the button asks for: `on=1` like/save, `on=0` take it back. Explicit rather
    than a toggle, so a double click or a stale tab cannot undo what it meant to do."""
    return request.form.get("on", "1") != "0"


def _back(post: Post, anchor: str) -> str:
    """Where the plain form returns: the page it came from when that is on this site (a
    card on the home page), else the post."""
    fallback = url_for("posts.show", slug=post.slug) + anchor
    target = request.form.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return fallback


def _refused(post: Post, message: str, anchor: str):
    db.session.rollback()
    if is_htmx():
        abort(409, message)  # shown beside the button (blog.core.errors)
    flash(message, "error")
    return redirect_to(_back(post, anchor)), 303


@bp.post("/posts/<uuid:post_id>/like")
@limiter.limit(limit("react"), key_func=user_key)
@require_verified
def like_post(post_id: uuid.UUID):
    post = access_post(current_user, post_id)  # another person's draft: 404
    try:
        state = services.like_post(post, current_user, _wanted())
    except services.ReactionRefused as exc:
        return _refused(post, str(exc), "#post-reactions")
    db.session.commit()
    if is_htmx():
        return render_template(
            "reactions/_like.html",
            item_type="post",
            item_id=post.id,
            count=state.count,
            liked=state.on,
            can=True,
        )
    return redirect_to(_back(post, "#post-reactions"))


@bp.post("/comments/<uuid:comment_id>/like")
@limiter.limit(limit("react"), key_func=user_key)
@require_verified
def like_comment(comment_id: uuid.UUID):
    comment, post = access_comment(current_user, comment_id)  # under another's draft: 404
    try:
        state = services.like_comment(comment, post, current_user, _wanted())
    except services.ReactionRefused as exc:
        return _refused(post, str(exc), f"#comment-{comment_id}")
    db.session.commit()
    if is_htmx():
        return render_template(
            "reactions/_like.html",
            item_type="comment",
            item_id=comment.id,
            count=state.count,
            liked=state.on,
            can=True,
        )
    return redirect_to(_back(post, f"#comment-{comment_id}"))


@bp.post("/posts/<uuid:post_id>/save")
@limiter.limit(limit("react"), key_func=user_key)
@require_user
def save_post(post_id: uuid.UUID):
    post = access_post(current_user, post_id)
    try:
        saved = services.save_post(post, current_user, _wanted())
    except services.ReactionRefused as exc:
        return _refused(post, str(exc), "#post-reactions")
    db.session.commit()
    if is_htmx():
        return render_template("reactions/_save.html", post_id=post.id, saved=saved)
    flash("Saved: find it under Saved in your menu." if saved else "Removed from Saved.", "success")
    return redirect_to(_back(post, "#post-reactions"))


@bp.get("/saved")
@require_user
def saved():
    """The posts you saved, newest saved first (keyset: `?before=`)."""
    page = queries.saved_feed(current_user.id, request.args.get("before") or None)
    return render("reactions/saved.html", "page", page=page)
