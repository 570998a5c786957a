"""Comments: add, edit, delete your own, and remove (moderators), inline with htmx and as plain
forms without JavaScript. Thin: parse, check, call a service, commit, respond."""

from __future__ import annotations

import uuid

from flask import Blueprint, Flask, abort, flash, render_template, request, url_for
from flask_login import current_user

from blog.auth.access import require_user, require_verified
from blog.auth.limits import limit, user_key
from blog.comments import services
from blog.comments.access import access_comment, access_reply_parent
from blog.comments.forms import CommentForm, RemoveForm
from blog.comments.models import Comment
from blog.core.htmx import is_htmx, redirect_to
from blog.extensions import db, limiter
from blog.posts.access import access_post
from blog.posts.models import Post

bp = Blueprint("comments", __name__)


def init_comments(app: Flask) -> None:
    # The post page (blog/posts) includes the thread without knowing how it is loaded.
    app.jinja_env.globals["comment_thread"] = _thread


def _thread(post: Post, after: str | None = None) -> services.Thread:
    """The thread as the current visitor sees it (collapsed where they ignore the author)."""
    viewer = current_user.id if current_user.is_authenticated else None
    return services.thread(post, after, viewer_id=viewer)


def _post_url(post: Post, comment: Comment | None = None) -> str:
    anchor = f"#comment-{comment.id}" if comment is not None else "#comments"
    return url_for("posts.show", slug=post.slug) + anchor


def _fragment(comment: Comment, post: Post, status: int = 200):
    # The comment is swapped whole (outerHTML): its replies come with it.
    thread = services.subtree(comment)
    return render_template(
        "comments/_comment.html", comment=comment, post=post, thread=thread
    ), status


def _changed(comment: Comment, post: Post):
    """The comment after a delete, removal or restore, and the thread's heading out of band:
    the count changed with it."""
    body = render_template(
        "comments/_comment.html", comment=comment, post=post, thread=services.subtree(comment)
    )
    count = render_template("comments/_count.html", total=services.visible_count(post.id), oob=True)
    return body + count, 200


@bp.post("/posts/<uuid:post_id>/comments")
@limiter.limit(limit("comment"), key_func=user_key)
@require_verified
def add(post_id: uuid.UUID):
    """A comment, or a reply when the form names a `parent_id` (one endpoint, so replies count
    against the same `comment` limit)."""
    post = access_post(current_user, post_id)
    parent = None
    if "parent_id" in request.form:
        parent = access_reply_parent(current_user, post, _uuid_or_none(request.form["parent_id"]))
    form = CommentForm()
    if not form.validate():
        return _reply_error(post, parent, form) if parent else _form_error(post, form)
    try:
        comment = services.add_comment(post, current_user, form.content.data, parent=parent)
    except services.CommentLimited as exc:  # safety: a new account's limit, beside the field
        db.session.rollback()
        form.content.errors = [str(exc)]
        return _reply_error(post, parent, form) if parent else _form_error(post, form)
    except services.CommentRefused as exc:
        db.session.rollback()
        return _refused(post, str(exc))
    db.session.commit()
    if parent is not None:
        return _reply_posted(post, parent, comment)
    if is_htmx():
        total = services.visible_count(post.id)
        body = render_template(
            "comments/_added.html",
            comment=comment,
            post=post,
            form=CommentForm(formdata=None),
            total=total,
        )
        return body, 201
    flash("Your comment is posted.", "success")
    return redirect_to(_post_url(post, comment))


def _reply_posted(post: Post, parent: Comment, comment: Comment):
    if is_htmx():
        body = render_template(
            "comments/_reply_added.html",
            comment=comment,
            parent=parent,
            post=post,
            thread=services.Thread(
                [comment], services.visible_count(post.id), None, {}, {parent.id: parent}
            ),
        )
        return body, 201
    flash("Your reply is posted.", "success")
    return redirect_to(_post_url(post, comment))


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _reply_error(post: Post, parent: Comment, form: CommentForm):
    if is_htmx():
        body = render_template("comments/_reply_form.html", post=post, parent=parent, form=form)
        # Beside the reply form, not inside the list the reply would join.
        return body, 422, {"HX-Retarget": f"#reply-form-{parent.id}", "HX-Reswap": "outerHTML"}
    return render_template("comments/reply_page.html", post=post, parent=parent, form=form), 422


@bp.get("/posts/<uuid:post_id>/comments/<uuid:comment_id>/reply")
@require_verified
def reply(post_id: uuid.UUID, comment_id: uuid.UUID):
    """The reply form: inline under the comment for htmx, a page of its own without JS."""
    post = access_post(current_user, post_id)
    parent = access_reply_parent(current_user, post, comment_id)
    form = CommentForm(formdata=None)
    if is_htmx():
        return render_template("comments/_reply_form.html", post=post, parent=parent, form=form)
    return render_template("comments/reply_page.html", post=post, parent=parent, form=form)


def _form_error(post: Post, form: CommentForm):
    if is_htmx():
        body = render_template("comments/_form.html", post=post, form=form)
        # The form itself shows the message, not the list the form appends to.
        return body, 422, {"HX-Retarget": "#comment-form", "HX-Reswap": "outerHTML"}
    return render_template("comments/edit_page.html", post=post, form=form, comment=None), 422


def _refused(post: Post, message: str):
    if is_htmx():
        body = render_template("comments/_closed.html", post=post, message=message)
        return body, 409, {"HX-Retarget": "#comment-form", "HX-Reswap": "outerHTML"}
    flash(message, "error")
    return redirect_to(_post_url(post)), 303


@bp.get("/posts/<uuid:post_id>/comments")
def more(post_id: uuid.UUID):
    post = access_post(current_user, post_id)
    after = request.args.get("after")
    if not is_htmx():
        return redirect_to(
            url_for("posts.show", slug=post.slug, comments_after=after) + "#comments"
        )
    page = _thread(post, after)
    return render_template("comments/_page.html", thread=page, post=post)


@bp.get("/comments/<uuid:comment_id>")
def show(comment_id: uuid.UUID):
    comment, post = access_comment(current_user, comment_id)
    if not is_htmx():
        return redirect_to(_post_url(post, comment))
    return _fragment(comment, post)


@bp.route("/comments/<uuid:comment_id>/edit", methods=["GET", "POST"])
@require_user
def edit(comment_id: uuid.UUID):
    comment, post = access_comment(current_user, comment_id, "edit")
    form = CommentForm(obj=comment)
    if request.method == "POST" and form.validate():
        try:
            services.edit_comment(comment, post, form.content.data)
        except services.CommentLimited as exc:  # safety
            db.session.rollback()
            form.content.errors = [str(exc)]
            template = "comments/_edit.html" if is_htmx() else "comments/edit_page.html"
            return render_template(template, comment=comment, post=post, form=form), 422
        except services.CommentRefused as exc:
            db.session.rollback()
            return _refused(post, str(exc))
        db.session.commit()
        if is_htmx():
            return _fragment(comment, post)
        flash("Your comment is updated.", "success")
        return redirect_to(_post_url(post, comment))
    status = 422 if request.method == "POST" else 200
    template = "comments/_edit.html" if is_htmx() else "comments/edit_page.html"
    return render_template(template, comment=comment, post=post, form=form), status


@bp.post("/comments/<uuid:comment_id>/delete")
@require_user
def delete(comment_id: uuid.UUID):
    comment, post = access_comment(current_user, comment_id, "edit")
    try:
        services.delete_comment(comment, post)
    except services.CommentRefused as exc:
        db.session.rollback()
        return _refused(post, str(exc))
    db.session.commit()
    if is_htmx():
        return _changed(comment, post)
    flash("Your comment is deleted.", "success")
    return redirect_to(_post_url(post, comment))


@bp.post("/comments/<uuid:comment_id>/remove")
@require_user
def remove(comment_id: uuid.UUID):
    comment, post = access_comment(current_user, comment_id, "remove")
    form = RemoveForm()
    if not form.validate():
        if is_htmx():
            return _fragment(comment, post, 422)
        abort(422, "Give a reason: it is shown in place of the comment.")
    try:
        services.remove_comment(
            comment, actor=current_user, reason=form.reason.data, ip=request.remote_addr
        )
    except services.CommentRefused as exc:
        db.session.rollback()
        abort(409, str(exc))
    db.session.commit()
    if is_htmx():
        return _changed(comment, post)
    flash("The comment is removed.", "success")
    return redirect_to(_post_url(post, comment))


@bp.post("/comments/<uuid:comment_id>/restore")
@require_user
def restore(comment_id: uuid.UUID):
    comment, post = access_comment(current_user, comment_id, "remove")
    try:
        services.restore_comment(comment, actor=current_user, ip=request.remote_addr)
    except services.CommentRefused as exc:
        db.session.rollback()
        abort(409, str(exc))
    db.session.commit()
    if is_htmx():
        return _changed(comment, post)
    flash("The comment is restored.", "success")
    return redirect_to(_post_url(post, comment))
