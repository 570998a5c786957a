"""Admin pages for accounts: search and filter, one user's page, and the staff actions on it.

Moderators search, view and suspend ordinary users; admins do everything (blog/auth/staff.py
holds the rules). Every action is a POST with CSRF through one service, audited.
"""

from __future__ import annotations

import uuid
from datetime import UTC

from flask import abort, flash, request, url_for
from flask_login import current_user

from blog.admin.forms import RoleForm, SuspendForm
from blog.admin.views import bp
from blog.auth import policy, staff
from blog.auth import services as auth_services
from blog.auth.access import require_admin, require_moderator
from blog.auth.forms import EmptyForm
from blog.auth.models import User
from blog.core.db import utcnow
from blog.core.htmx import redirect_to, render
from blog.extensions import db

PER_PAGE = 50


@bp.get("/users")
@require_moderator
def users():
    filters = staff.UserFilter(
        query=request.args.get("q", "")[:200],
        role=request.args.get("role", ""),
        status=request.args.get("status", ""),
        verified=request.args.get("verified", ""),
        deleted=request.args.get("deleted", ""),
    )
    page = request.args.get("page", 1, type=int) or 1
    page = max(1, min(page, 10_000))
    rows, has_more = staff.search_users(filters, page=page, per_page=PER_PAGE)
    return render(
        "admin/users.html",
        "results",
        users=rows,
        first=(page - 1) * PER_PAGE + 1,
        has_more=has_more,
        filters=filters,
        page=page,
    )


def _target(user_id: uuid.UUID) -> User:
    user = staff.get_user(user_id)
    if user is None:
        abort(404)
    return user


def _detail(user: User, *, status: int = 200, error: str | None = None, **forms):
    forms.setdefault("suspend_form", SuspendForm(formdata=None))
    forms.setdefault("role_form", RoleForm(formdata=None, role=user.role))
    return render(
        "admin/user.html",
        user=user,
        sessions=staff.live_sessions(user) if current_user.is_admin else [],
        audit=staff.recent_audit(user),
        can_restore=user.can_be_restored(utcnow()),
        error=error,
        **forms,
    ), status


@bp.get("/users/<uuid:user_id>")
@require_moderator
def user(user_id: uuid.UUID):
    return _detail(_target(user_id))


def _done(target: User, message: str):
    db.session.commit()
    flash(message, "success")
    return redirect_to(url_for("admin.user", user_id=target.id))


def _refused(target: User, exc: Exception, status: int = 409, **forms):
    db.session.rollback()
    return _detail(target, status=status, error=str(exc), **forms)


@bp.post("/users/<uuid:user_id>/suspend")
@require_moderator
def suspend(user_id: uuid.UUID):
    target = _target(user_id)
    form = SuspendForm()
    if not form.validate():
        return _detail(target, status=422, suspend_form=form)
    try:
        staff.check_may_suspend(current_user, target)
        until = staff.suspension_end(form.duration.data, utcnow())
        auth_services.suspend_user(
            target, actor=current_user, reason=form.reason.data, until=until, ip=request.remote_addr
        )
    except staff.StaffActionRefused as exc:
        return _refused(target, exc, suspend_form=form)
    end = until.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if until else "further notice"
    return _done(target, f"{target.user_name} is suspended until {end} and signed out everywhere.")


@bp.post("/users/<uuid:user_id>/reinstate")
@require_moderator
def reinstate(user_id: uuid.UUID):
    EmptyForm()
    target = _target(user_id)
    try:
        staff.check_may_suspend(current_user, target)
    except staff.StaffActionRefused as exc:
        return _refused(target, exc)
    auth_services.reinstate_user(target, actor=current_user, ip=request.remote_addr)
    return _done(target, f"{target.user_name}'s suspension is lifted.")


@bp.post("/users/<uuid:user_id>/role")
@require_admin
def change_role(user_id: uuid.UUID):
    target = _target(user_id)
    form = RoleForm()
    if not form.validate():
        return _detail(target, status=422, role_form=form)
    try:
        staff.change_role(current_user, target, form.role.data, ip=request.remote_addr)
    except staff.StaffActionRefused as exc:
        return _refused(target, exc, role_form=form)
    return _done(target, f"{target.user_name} is now {target.role}.")


@bp.post("/users/<uuid:user_id>/delete")
@require_admin
def delete(user_id: uuid.UUID):
    EmptyForm()
    target = _target(user_id)
    try:
        purge_after = staff.delete_user(
            current_user, target, retention=policy.retention(), ip=request.remote_addr
        )
    except staff.StaffActionRefused as exc:
        return _refused(target, exc)
    when = purge_after.astimezone(UTC).strftime("%Y-%m-%d")
    return _done(target, f"{target.user_name} is deleted; personal data is purged on {when}.")


@bp.post("/users/<uuid:user_id>/restore")
@require_admin
def restore(user_id: uuid.UUID):
    EmptyForm()
    target = _target(user_id)
    try:
        if target.id == current_user.id:
            raise staff.StaffActionRefused("You cannot do that to your own account here.")
        auth_services.restore_user(target, actor=current_user, ip=request.remote_addr)
    except (staff.StaffActionRefused, auth_services.NotRestorable) as exc:
        return _refused(target, exc)
    return _done(target, f"{target.user_name} is restored and can sign in again.")


@bp.post("/users/<uuid:user_id>/sessions/end")
@require_admin
def end_sessions(user_id: uuid.UUID):
    EmptyForm()
    target = _target(user_id)
    try:
        ended = staff.end_sessions(current_user, target, ip=request.remote_addr)
    except staff.StaffActionRefused as exc:
        return _refused(target, exc)
    return _done(target, f"{target.user_name} is signed out of {ended} session(s).")
