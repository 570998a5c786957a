"""Flagging posts and comments, reporting people and chat messages (readers), and the flag
queue (moderators)."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from blog.auth.access import require_moderator, require_verified
from blog.auth.limits import limit, user_key
from blog.comments.access import access_comment
from blog.core.htmx import is_htmx, redirect_to, render
from blog.extensions import db, limiter
from blog.flags import reports, services
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
    ("user", "agreed"): "the person is suspended until further notice and signed out everywhere.",
    ("message", "agreed"): 'the message is removed: its place says "Removed by a moderator".',
    ("user", "disagreed"): "the reports are dismissed.",
    ("message", "disagreed"): "the reports are dismissed.",
    ("user", "ignored"): "the reports are closed without a decision.",
    ("message", "ignored"): "the reports are closed without a decision.",
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
    if kind not in ("post", "comment", "user", "message") or decision not in (
        "agreed",
        "disagreed",
        "ignored",
    ):
        abort(404)
    if kind in ("user", "message"):
        target = reports.get_report_target(kind, target_id, lock=True)
    else:
        target = services.get_target(kind, target_id, lock=True)
    if target is None:
        abort(404)
    try:
        if kind in ("user", "message"):
            count = reports.decide_report(
                target, decision, actor=current_user, ip=request.remote_addr
            )
        else:
            count = services.decide(target, decision, actor=current_user, ip=request.remote_addr)
    except (services.FlagRefused, reports.ReportRefused) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect_to(url_for("flags.queue"))
    db.session.commit()
    flash(f"{count} flag(s) resolved: {OUTCOMES[kind, decision]}", "success")
    return redirect_to(url_for("flags.queue"))


# --------------------------------------------------------------------------- reports


def _report_answer(where: str, target_id: uuid.UUID, message: str, status: int = 200):
    """Beside the form for htmx (the form's own place), else a flash on the page it was on."""
    if is_htmx():
        return render_template(
            "flags/_flagged.html", message=message, target_kind=where, target_id=target_id
        ), status
    flash(message, "success" if status < 400 else "error")
    return None


@bp.post("/u/<user_name>/report")
@limiter.limit(limit("flag"), key_func=user_key)
@require_verified
def report_person(user_name: str):
    from blog.profiles.services import get_public_user

    person = get_public_user(user_name)
    if person is None:
        abort(404)
    back = url_for("profiles.show", user_name=person.user_name)
    form = FlagForm()
    if not form.validate():
        answer = _report_answer("user", person.id, " ".join(form.reason.errors), 422)
        return answer or (redirect(back), 303)
    try:
        created = reports.report_person(person, reporter=current_user, reason=form.reason.data)
    except reports.ReportRefused as exc:
        db.session.rollback()
        return _report_answer("user", person.id, str(exc), 409) or (redirect(back), 303)
    db.session.commit()
    message = (
        "Thank you: moderators will look at it."
        if created
        else "You have already reported this person; moderators will look at it."
    )
    return _report_answer("user", person.id, message) or redirect_to(back)


@bp.route("/chat/messages/<uuid:message_id>/report", methods=["GET", "POST"])
@limiter.limit(limit("flag"), key_func=user_key, methods=["POST"])
@require_verified
def report_message(message_id: uuid.UUID):
    """The report page of a chat message: what is shared, a reason, and the button. A
    member of the conversation only (404 for anyone else)."""
    message = reports.access_message_to_report(current_user, message_id)
    back = url_for("chat.show", conversation_id=message.conversation_id)
    form = FlagForm()
    error = None
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                created = reports.report_message(
                    message, reporter=current_user, reason=form.reason.data
                )
            except reports.ReportRefused as exc:
                db.session.rollback()
                error, status = str(exc), 409
            else:
                db.session.commit()
                flash(
                    "Thank you: moderators will look at this message and the few around it."
                    if created
                    else "You have already reported this message; moderators will look at it.",
                    "success",
                )
                return redirect_to(back + f"#message-{message.id}")
        else:
            status = 422
    return render(
        "flags/report_message.html",
        "form",
        message=message,
        form=form,
        error=error,
        back=back,
        notice=reports.SHARING_NOTICE,
    ), status
