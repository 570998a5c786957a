"""The inbox, mark read, preferences, one-click unsubscribe, and follow/unfollow.

Every change is a POST with CSRF (htmx sends the token from <body>); with htmx the answer is
the changed fragment plus the badge out of band, and every open tab gets the new badge through
the live channel after the commit.
"""

from __future__ import annotations

import logging
import uuid

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    request,
    send_from_directory,
    url_for,
)
from flask_login import current_user

from blog.auth.access import require_user, safe_next
from blog.auth.models import User
from blog.core.htmx import is_htmx, redirect_to, render
from blog.extensions import csrf, db
from blog.notifications import push, services
from blog.notifications.access import access_notification
from blog.notifications.forms import (
    ActionForm,
    PreferencesForm,
    field_name,
    is_fixed,
)
from blog.notifications.mail import read_unsubscribe_token
from blog.notifications.models import DIGEST_KIND
from blog.profiles.services import get_public_user

bp = Blueprint("notifications", __name__)
log = logging.getLogger(__name__)


@bp.app_template_global()
def follow_state(user: User) -> dict[str, object]:
    """What the follow button on `user`'s profile shows to the current visitor."""
    mine = current_user.is_authenticated and current_user.id == user.id
    following = (
        current_user.is_authenticated
        and not mine
        and services.is_following(current_user.id, user.id)
    )
    return {"mine": mine, "following": following, "followers": services.follower_count(user.id)}


def _badge_oob() -> str:
    from flask import render_template

    return render_template(
        "notifications/_badge.html",
        count=services.unread_count(current_user.id),
        cap=services.BADGE_CAP,
        inbox_url=url_for("notifications.index"),
        oob=True,
    )


def _push_badge_after_commit() -> None:
    # The request has committed: every open tab of this user gets the new count.
    services.push_badges([current_user.id])


@bp.get("/notifications")
@require_user
def index():
    page = services.inbox_page(current_user.id, request.args.get("after"))
    return render(
        "notifications/index.html",
        "inbox",
        page=page,
        form=ActionForm(),
        unread=services.unread_count(current_user.id),
    )


@bp.post("/notifications/<uuid:notification_id>/read")
@require_user
def mark_read(notification_id: uuid.UUID):
    notification = access_notification(current_user, notification_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    services.mark_read(notification)
    db.session.commit()
    _push_badge_after_commit()
    if is_htmx():
        return render("notifications/index.html", "item", n=notification, form=form) + _badge_oob()
    return redirect_to(safe_next(request.form.get("next"), url_for("notifications.index")))


@bp.post("/notifications/read-all")
@require_user
def mark_all_read():
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    count = services.mark_all_read(current_user.id)
    db.session.commit()
    _push_badge_after_commit()
    if not is_htmx():
        flash(f"Marked {count} notification{'s' if count != 1 else ''} read.", "success")
        return redirect_to(url_for("notifications.index"))
    page = services.inbox_page(current_user.id, None)
    html = render("notifications/index.html", "inbox", page=page, form=form, unread=0)
    return html + _badge_oob()


@bp.route("/notifications/preferences", methods=["GET", "POST"])
@require_user
def preferences():
    current = services.preferences(current_user.id)
    data: dict[str, bool] = {
        field_name(kind, channel): enabled for (kind, channel), enabled in current.items()
    }
    data["daily_digest"] = current[(DIGEST_KIND, "email")]
    form = PreferencesForm(data=data)
    if form.validate_on_submit():
        services.set_preferences(current_user.id, form.choices())
        db.session.commit()
        flash("Your notification settings have been saved.", "success")
        return redirect_to(url_for("notifications.preferences"))
    status = 422 if form.is_submitted() else 200
    return render(
        "notifications/preferences.html",
        "form",
        form=form,
        kinds=services.KIND_LABELS,
        channels=services.PAGE_CHANNELS,
        field_name=field_name,
        is_fixed=is_fixed,
        push_enabled=push.push_enabled(),
        vapid_public_key=current_app.config.get("VAPID_PUBLIC_KEY"),
        push_devices=push.subscription_count(current_user.id),
    ), status


# --------------------------------------------------------------------------- web push


@bp.get("/sw.js")
def service_worker():
    """The service worker, from the site's root so that its scope covers every page."""
    response = send_from_directory(
        current_app.static_folder or "static", "js/sw.js", mimetype="text/javascript", max_age=0
    )
    # Browsers re-check a worker at most daily anyway; never let a cache pin an old one.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = request.script_root + "/"
    return response


def _json_error(message: str, status: int):
    return jsonify({"ok": False, "error": message}), status


@bp.post("/notifications/push/subscribe")
@require_user
def push_subscribe():
    """Store this browser's PushSubscription (JSON, CSRF token in X-CSRFToken)."""
    if not push.push_enabled():
        return _json_error("Push notifications are not available on this site.", 404)
    data = request.get_json(silent=True)
    try:
        sub = push.parse_subscription(data)
    except push.InvalidSubscription as exc:
        return _json_error(str(exc), 422)
    push.save_subscription(current_user.id, sub, request.headers.get("User-Agent"))
    db.session.commit()
    return jsonify({"ok": True, "devices": push.subscription_count(current_user.id)}), 201


@bp.post("/notifications/push/unsubscribe")
@require_user
def push_unsubscribe():
    """Forget this browser's subscription (JSON {endpoint}); idempotent."""
    data = request.get_json(silent=True)
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    if not isinstance(endpoint, str) or not endpoint:
        return _json_error("Send the subscription's endpoint.", 422)
    removed = push.delete_subscription(current_user.id, endpoint)
    db.session.commit()
    return jsonify(
        {"ok": True, "removed": removed, "devices": push.subscription_count(current_user.id)}
    )


@bp.route("/notifications/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the authority; mail clients POST it one-click (RFC 8058)
def unsubscribe(token: str):
    target = read_unsubscribe_token(token)
    if target is None:
        abort(404)
    user_id, kind = target
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        abort(404)
    label = services.MAIL_LABELS[kind]
    if request.method == "POST":
        services.set_preference(user_id, kind, "email", False)
        db.session.commit()
        return render("notifications/unsubscribed.html", label=label, done=True)
    return render("notifications/unsubscribed.html", label=label, done=False, token=token)


def _profile_user(user_name: str) -> User:
    user = get_public_user(user_name)
    if user is None:
        abort(404)
    return user


@bp.post("/u/<user_name>/follow")
@require_user
def follow(user_name: str):
    return _change_follow(_profile_user(user_name), follow=True)


@bp.post("/u/<user_name>/unfollow")
@require_user
def unfollow(user_name: str):
    return _change_follow(_profile_user(user_name), follow=False)


def _change_follow(user: User, *, follow: bool):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        if follow:
            services.follow(current_user, user)
        else:
            services.unfollow(current_user, user)
    except services.FollowRefused as exc:
        if is_htmx():
            return render("notifications/_follow_button.html", user=user, error=str(exc)), 422
        flash(str(exc), "error")
        return redirect_to(url_for("profiles.show", user_name=user.user_name))
    db.session.commit()
    if is_htmx():
        return render("notifications/_follow_button.html", user=user)
    return redirect_to(url_for("profiles.show", user_name=user.user_name))
