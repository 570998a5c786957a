"""Writing: the editor (new and edit) with its live preview and tag suggestions, "my posts",
and the status buttons (publish, archive, cancel a schedule). Thin: parse, access, one
service call, commit, respond."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, flash, render_template, request, url_for
from flask_login import current_user

from blog.auth.access import require_user, require_verified
from blog.auth.forms import EmptyForm
from blog.auth.limits import limit, user_key
from blog.core.htmx import is_htmx, keep_flashes, redirect_to, render
from blog.extensions import db, limiter
from blog.posts import queries, services
from blog.posts.access import access_post
from blog.posts.forms import PostForm, read_action
from blog.posts.models import CONTENT_MAX, IllegalTransition, Post
from blog.profiles.mentions import render_user_text
from blog.safety.newcomers import NewAccountLimit
from blog.uploads.images import image_sizes

bp = Blueprint("editor", __name__)


def _form(post: Post | None = None) -> PostForm:
    intent = read_action(request.form.get("action"))
    if request.method == "POST" or post is None:
        return PostForm(intent=intent)
    return PostForm(
        data={
            "title": post.title,
            "content": post.content,
            "tags": ", ".join(tag.name for tag in post.tags),
            "scheduled_at": post.scheduled_at.replace(tzinfo=None) if post.scheduled_at else None,
            "version": post.version,
        }
    )


def _editor(form: PostForm, post: Post | None, status: int = 200, **extra: Any):
    preview = extra.pop("preview", None)
    return (
        render("posts/editor.html", "form", form=form, post=post, preview=preview, **extra),
        status,
    )


def _post_created(response: Response) -> bool:
    # Count what creates a post (a redirect away from the editor, or the 201 of a first
    # autosave), not errors or previews.
    return response.status_code in (302, 204, 201)


# New posts share one count, whether "Save draft" or the first autosave made them.
_new_posts = limiter.shared_limit(
    limit("post"), scope="post", methods=["POST"], key_func=user_key, deduct_when=_post_created
)


@bp.route("/write", methods=["GET", "POST"])
@_new_posts
@require_verified
def new():
    form = _form()
    if not form.validate_on_submit():
        return _editor(form, None, 422 if form.is_submitted() else 200)
    if form.intent == "preview":
        return _editor(form, None, preview=_render_preview(form.content.data))
    try:
        post = services.create_post(
            current_user, title=form.title.data, content=form.content.data, tag_names=form.tag_names
        )
    except NewAccountLimit as exc:  # safety
        db.session.rollback()
        return _editor(form, None, 422, form_message=str(exc))
    return _save(form, post)


@bp.route("/posts/<uuid:post_id>/edit", methods=["GET", "POST"])
@require_verified
def edit(post_id: uuid.UUID):
    post = access_post(current_user, post_id, action="edit", lock=request.method == "POST")
    form = _form(post)
    if not form.validate_on_submit():
        if not form.is_submitted():  # the stored text, previewed from the start
            return _editor(form, post, preview=post.content_html)
        return _editor(form, post, 422)
    if form.intent == "preview":
        return _editor(form, post, preview=_render_preview(form.content.data))
    if form.intent == "publish" and post.is_archived:
        access_post(current_user, post_id, action="publish")
    old_slug = post.slug
    try:
        services.update_post(
            post,
            title=form.title.data,
            content=form.content.data,
            tag_names=form.tag_names,
            expected_version=form.version.data,
        )
    except NewAccountLimit as exc:  # safety
        db.session.rollback()
        return _editor(form, db.session.get(Post, post_id), 422, form_message=str(exc))
    except services.VersionConflict:
        # Never a silent overwrite: the text stays in the form, and saving it again is a
        # choice made knowing the newer text exists (the version field moves on to it).
        db.session.rollback()
        post = access_post(current_user, post_id, action="edit")
        form.version.data = post.version
        form.version.raw_data = [str(post.version)]
        return _editor(form, post, 409, conflict=post)
    if post.slug != old_slug and not post.is_draft:
        flash("The post has a new address; the old one leads to it.", "info")
    return _save(form, post)


def _save(form: PostForm, post: Post):
    """Finish a valid editor submission: keep it as is, publish it, or schedule it."""
    try:
        if form.intent == "publish":
            services.publish_post(post, actor=current_user)
        elif form.intent == "schedule":
            at = form.scheduled_at_utc
            assert at is not None  # the form requires it for this button
            services.schedule_post(post, at)
    except IllegalTransition as exc:
        db.session.rollback()
        saved = db.session.get(Post, post.id) if post.id else None
        return _editor(form, saved, 422, form_message=str(exc))
    db.session.commit()
    if post.is_published and form.intent == "publish":
        flash("Your post is published.", "success")
        return redirect_to(url_for("posts.show", slug=post.slug))
    if post.scheduled_at is not None and form.intent == "schedule":
        flash(
            f"Scheduled: it will be published at {post.scheduled_at:%d %b %Y, %H:%M} UTC.",
            "success",
        )
    elif post.is_draft:
        flash("Draft saved. Only you can see it.", "success")
    else:
        flash("Your changes are saved.", "success")
    return redirect_to(url_for("editor.edit", post_id=post.id))


# --------------------------------------------------------------------------- autosave
#
# static/js/editor.js posts the form here while the author types (debounced, and at least
# every few seconds while the text keeps changing). Drafts only: a published or archived
# post's edits stay in the page until "Update post" (as Ghost does), so nothing goes public
# unasked. The answer is the text of the editor's status region; the version it leaves the
# post at travels in a header, and the first save of a new post answers 201 with the
# addresses of the draft it created.


def _autosave_status(post: Post | None, status: int = 200, **extra: Any) -> Response:
    response = Response(
        render_template("posts/_autosave_status.html", post=post, **extra),
        status,
        mimetype="text/html",
    )
    if post is not None:
        response.headers["Blog-Post-Version"] = str(post.version)
    return response


def _autosave_form() -> PostForm | Response:
    keep_flashes()
    form = PostForm(intent="save")
    if form.validate():
        return form
    message = next(iter(e for errors in form.errors.values() for e in errors), "Check the form.")
    return _autosave_status(None, 422, message=message)


@bp.post("/write/autosave")
@limiter.limit(limit("autosave"), key_func=user_key)
@_new_posts
@require_verified
def autosave_new():
    """The first autosave of a new post creates its draft (201, with the draft's addresses:
    the page moves to its edit URL, so a closed tab loses nothing)."""
    form = _autosave_form()
    if isinstance(form, Response):
        return form
    try:
        post = services.create_post(
            current_user, title=form.title.data, content=form.content.data, tag_names=form.tag_names
        )
    except NewAccountLimit as exc:  # safety: a new account's limit, said in the status
        db.session.rollback()
        return _autosave_status(None, 422, message=str(exc))
    db.session.commit()
    response = _autosave_status(post, 201, saved_at=post.updated_at)
    response.headers["Blog-Edit-Url"] = url_for("editor.edit", post_id=post.id)
    response.headers["Blog-Autosave-Url"] = url_for("editor.autosave", post_id=post.id)
    response.headers["Blog-Preview-Url"] = url_for("editor.preview", post_id=post.id)
    return response


@bp.post("/posts/<uuid:post_id>/autosave")
@limiter.limit(limit("autosave"), key_func=user_key)
@require_verified
def autosave(post_id: uuid.UUID):
    post = access_post(current_user, post_id, action="edit", lock=True)
    form = _autosave_form()
    if isinstance(form, Response):
        return form
    try:
        services.autosave_draft(
            post,
            title=form.title.data,
            content=form.content.data,
            tag_names=form.tag_names,
            expected_version=form.version.data,
        )
    except services.VersionConflict:
        db.session.rollback()
        return _autosave_status(post, 409, conflict=True)
    except (IllegalTransition, NewAccountLimit) as exc:
        db.session.rollback()
        return _autosave_status(post, 422, message=str(exc))
    db.session.commit()
    return _autosave_status(post, saved_at=post.updated_at)


def _render_preview(content: str) -> str:
    """The preview renders as the post will: mentions linked, the writer's images sized."""
    return render_user_text(content, images=image_sizes(current_user.id)).html


def _preview_fragment():
    keep_flashes()
    content = request.form.get("content", "")
    if len(content) > CONTENT_MAX:
        return render_template("posts/_preview.html", too_long=True), 422
    html = _render_preview(content) if content.strip() else None
    return render_template("posts/_preview.html", preview=html)


@bp.post("/write/preview")
@limiter.limit(limit("preview"), key_func=user_key)
@require_verified
def preview_new():
    return _preview_fragment()


@bp.post("/posts/<uuid:post_id>/preview")
@limiter.limit(limit("preview"), key_func=user_key)
@require_verified
def preview(post_id: uuid.UUID):
    access_post(current_user, post_id, action="edit")
    return _preview_fragment()


@bp.get("/write/tag-suggestions")
@limiter.limit(limit("preview"), key_func=user_key)
@require_user
def tag_suggestions():
    """A <datalist> for the tags field: each option is what is typed plus one existing tag."""
    keep_flashes()
    # NUL never names a tag (and PostgreSQL would refuse to compare one).
    typed = request.args.get("tags", "")[:300].replace("\x00", "")
    *done, last = typed.split(",") if typed else [""]
    done_names = [part.strip().lower() for part in done if part.strip()]
    prefix = last.strip().lower()
    names = queries.suggest_tags(prefix, done_names)
    lead = ", ".join(done_names)
    options = [f"{lead}, {name}" if lead else name for name in names]
    return render_template("posts/_tag_options.html", options=options)


@bp.get("/me/posts")
@require_user
def mine():
    return render("posts/mine.html", posts=queries.own_posts(current_user))


# --------------------------------------------------------------------------- status buttons


def _status_response(post: Post):
    if is_htmx():
        return render(
            "posts/show.html",
            "post_status",
            post=post,
            views=post.view_count,
            is_author=current_user.id == post.author_id,
        )
    return redirect_to(url_for("posts.show", slug=post.slug))


def _refused(post_id: uuid.UUID, exc: IllegalTransition):
    db.session.rollback()
    flash(str(exc), "error")
    return _status_response(access_post(current_user, post_id))


@bp.post("/posts/<uuid:post_id>/publish")
@require_verified
def publish(post_id: uuid.UUID):
    EmptyForm()  # CSRFProtect has checked the token
    post = access_post(current_user, post_id, action="publish")
    try:
        services.publish_post(post, actor=current_user)
    except IllegalTransition as exc:
        return _refused(post_id, exc)
    db.session.commit()
    flash("The post is published.", "success")
    return _status_response(post)


@bp.post("/posts/<uuid:post_id>/archive")
@require_user
def archive(post_id: uuid.UUID):
    post = access_post(current_user, post_id, action="archive")
    try:
        services.archive_post(post, actor=current_user, ip=request.remote_addr)
    except IllegalTransition as exc:
        return _refused(post_id, exc)
    db.session.commit()
    flash(
        "The post is archived: it is off the lists and search, and still at its address.", "success"
    )
    return _status_response(post)


@bp.post("/posts/<uuid:post_id>/unschedule")
@require_verified
def unschedule(post_id: uuid.UUID):
    post = access_post(current_user, post_id, action="edit")
    if post.scheduled_at is None:
        flash("This post is not scheduled.", "info")
    else:
        services.unschedule_post(post)
        db.session.commit()
        flash("The schedule is cancelled; the post stays a draft.", "success")
    return redirect_to(url_for("editor.edit", post_id=post.id))


@bp.post("/posts/<uuid:post_id>/delete")
@require_verified
def delete(post_id: uuid.UUID):
    post = access_post(current_user, post_id, action="delete")
    try:
        services.delete_draft(post)
    except IllegalTransition as exc:
        return _refused(post_id, exc)
    db.session.commit()
    flash("The draft is deleted.", "success")
    return redirect_to(url_for("editor.mine"))
