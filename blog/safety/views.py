"""Mute, ignore and unmute (a profile's buttons, a comment's menu), and the "Direct messages
from" choice on the preferences page. Thin: parse, check, call a service, commit, respond;
with htmx the profile's buttons swap in place, without it every form posts and redirects."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, request, url_for
from flask_login import current_user

from blog.auth.access import require_user, safe_next
from blog.auth.forms import EmptyForm
from blog.auth.models import User
from blog.core.htmx import is_htmx, redirect_to, render
from blog.extensions import db
from blog.profiles.services import get_public_user
from blog.safety import newcomers, services
from blog.safety.models import DM_CHOICES

bp = Blueprint("safety", __name__)

# The settings page lists `new_accounts` because this module imports it at start-up.
assert newcomers.NEW_ACCOUNTS


@bp.app_template_global()
def screen_state(user: User) -> dict[str, Any]:
    """What the profile's Mute / Ignore buttons show the current visitor (one statement for a
    signed-in visitor on someone else's profile, none otherwise)."""
    if not current_user.is_authenticated or current_user.id == user.id:
        return {"shown": False, "level": None}
    if services.is_staff(user):
        return {"shown": False, "level": None}
    return {"shown": True, "level": services.screen_level(current_user.id, user.id)}


@bp.app_template_global()
def safety_preferences() -> dict[str, Any]:
    """The preferences page's section: whom you mute or ignore, and who may message you."""
    return {
        "screens": services.screens(current_user.id),
        "dm_from": services.dm_from(current_user.id),
        "dm_labels": services.DM_LABELS,
    }


def _person(user_name: str) -> User:
    user = get_public_user(user_name)
    if user is None:
        abort(404)
    return user


def _answer(user: User, message: str, category: str = "success", status: int = 200):
    back = safe_next(request.form.get("next"), url_for("profiles.show", user_name=user.user_name))
    if is_htmx() and request.form.get("fragment") == "buttons":
        error = message if category == "error" else None
        return render("safety/_screen_buttons.html", user=user, error=error), status
    flash(message, category)
    return redirect_to(back)


@bp.post("/u/<user_name>/screen")
@require_user
def screen(user_name: str):
    """Mute (`level=mute`) or ignore (`level=ignore`) this person."""
    user = _person(user_name)
    if not EmptyForm().validate_on_submit():
        abort(400, "The form expired. Reload the page and try again.")
    level = request.form.get("level", "")
    try:
        services.screen(current_user, user, level)
    except services.ScreenRefused as exc:
        db.session.rollback()
        return _answer(user, str(exc), "error", 422)
    db.session.commit()
    if level == "ignore":
        done = (
            f"You ignore {user.user_name}: nothing they do notifies you, they cannot message "
            "you, and what they write is collapsed for you."
        )
    else:
        done = (
            f"You muted {user.user_name}: nothing they do notifies you and they cannot message you."
        )
    return _answer(user, done)


@bp.post("/u/<user_name>/unscreen")
@require_user
def unscreen(user_name: str):
    """Stop muting or ignoring this person (the preferences page's Undo too)."""
    user = get_public_user(user_name)
    if user is None:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400, "The form expired. Reload the page and try again.")
    services.unscreen(current_user, user.id)
    db.session.commit()
    return _answer(user, f"You no longer mute or ignore {user.user_name}.")


@bp.post("/preferences/messages")
@require_user
def messages():
    """Who may start a conversation with you."""
    if not EmptyForm().validate_on_submit():
        abort(400, "The form expired. Reload the page and try again.")
    choice = request.form.get("dm_from", "")
    if choice not in DM_CHOICES:
        flash("Choose who may message you: everyone, people you follow, or nobody.", "error")
        return redirect_to(url_for("notifications.preferences") + "#safety")
    services.set_dm_from(current_user.id, choice)
    db.session.commit()
    flash(f"Direct messages from: {services.DM_LABELS[choice].lower()}.", "success")
    return redirect_to(url_for("notifications.preferences") + "#safety")
