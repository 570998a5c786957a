"""Flagging posts and comments (readers) and the flag queue (moderators)."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, render_template, request, url_for
from flask_login import current_user

from blog.auth.access import require_moderator, require_verified
from blog.auth.limits import limit, user_key
from blog.comments.access import access_comment
from blog.core.htmx import is_htmx, redirect_to, render
from blog.extensions import db, limiter
from blog.flags import services
from blog.flags.forms import FlagForm
from blog.posts.access import access_post
from blog.posts.models import Post

bp = Blueprint("flags", __name__)


def _answer(post: Post, target_kind: str, target_id: uuid.UUID, message: str, status: int = 200):
    if is_htmx():
        return render_template(
            "flags/_flagged.html", message=message, target_kind=target_kind, target_id=target_id
        ), status
    flash(message, "success" if status < 400 else "error")
    return redirect_to(url_for("posts.show", slug=post.slug)), 303 if status >= 400 else 302


def _flag(post: Post, target: services.Target, target_kind: str):
    form = FlagForm()
    if not form.validate():
        message = " ".join(form.reason.errors)
        return _answer(post, target_kind, target.id, message, 422)
    try:
        created = services.flag(target, reporter=current_user, reason=form.reason.data)
    except services.FlagRefused as exc:
        db.session.rollback()
        return _answer(post, target_kind, target.id, str(exc), 409)
    db.session.commit()
    message = (
        "Thank you: moderators will look at it."
        if created
        else "You have already flagged this; moderators will look at it."
    )
    return _answer(post, target_kind, target.id, message)


# What each decision really does (services.decide): nothing is deleted, and a moderator can
# undo an agreement from the post's page. Shown after the decision; the queue says it before.
OUTCOMES = {
    ("post", "agreed"): (
        "the post is archived. It leaves the lists and search and takes no new comments, but "
        "stays at its address with a notice; a moderator can publish it again from its page."
    ),
    ("comment", "agreed"): (
        'the comment is removed. Its place in the thread says "Removed by a moderator" with '
        "the readers' reasons; a moderator can restore it."
    ),
    ("post", "disagreed"): "the post is shown again.",
    ("comment", "disagreed"): "the comment is shown again.",
    ("post", "ignored"): "the flags are closed without a decision; the post is shown again.",
    ("comment", "ignored"): "the flags are closed without a decision; the comment is shown again.",
}


@bp.post("/posts/<uuid:post_id>/flag")
@limiter.limit(limit("flag"), key_func=user_key)
@require_verified
def flag_post(post_id: uuid.UUID):
    post = access_post(current_user, post_id)
    if not post.is_published:
        abort(409, "Only published posts can be flagged.")
    return _flag(post, post, "post")


@bp.post("/comments/<uuid:comment_id>/flag")
@limiter.limit(limit("flag"), key_func=user_key)
@require_verified
def flag_comment(comment_id: uuid.UUID):
    comment, post = access_comment(current_user, comment_id)
    return _flag(post, comment, "comment")


@bp.get("/admin/flags")
@require_moderator
def queue():
    return render("flags/queue.html", items=services.open_queue())


@bp.post("/admin/flags/<kind>/<uuid:target_id>/<decision>")
@require_moderator
def decide(kind: str, target_id: uuid.UUID, decision: str):
    if kind not in ("post", "comment") or decision not in ("agreed", "disagreed", "ignored"):
        abort(404)
    target = services.get_target(kind, target_id, lock=True)
    if target is None:
        abort(404)
    try:
        count = services.decide(target, decision, actor=current_user, ip=request.remote_addr)
    except services.FlagRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect_to(url_for("flags.queue"))
    db.session.commit()
    flash(f"{count} flag(s) resolved: {OUTCOMES[kind, decision]}", "success")
    return redirect_to(url_for("flags.queue"))
