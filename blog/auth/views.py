"""Sign up, sign in, sign out, and the devices page. Thin: parse, check, call a service, commit."""

from __future__ import annotations

import uuid

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    request,
    url_for,
)
from flask_login import current_user

from blog.auth import services
from blog.auth.access import require_user, safe_next
from blog.auth.forms import EmptyForm, LoginForm, RegisterForm
from blog.auth.sessions import clear_session_cookie, current_session, set_session_cookie
from blog.core.htmx import is_htmx, redirect_to, render
from blog.extensions import db, limiter

bp = Blueprint("auth", __name__)

INVALID_CREDENTIALS = "The email address or password is not right."


def _login_limit() -> str:
    return str(current_app.config.get("AUTH_LOGIN_LIMIT", "10/minute;100/hour"))


def _register_limit() -> str:
    return str(current_app.config.get("AUTH_REGISTER_LIMIT", "10/hour"))


def _login_email_key() -> str:
    # A second limit keyed on the account, so one email cannot be guessed at from many IPs.
    return "email:" + services.normalise_email(request.form.get("email", ""))[:320]


def _signed_in_response(user, *, remember: bool, next_url: str) -> Response:
    from flask import session as flask_session

    new = services.start_session(
        user,
        remember=remember,
        user_agent=request.user_agent.string,
        ip=request.remote_addr,
    )
    db.session.commit()
    # A fresh CSRF secret and flash store for the new identity.
    flask_session.clear()
    response = redirect_to(next_url)
    set_session_cookie(response, new.token, remember=remember)
    return response


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_register_limit, methods=["POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = services.register_user(
                email=form.email.data, user_name=form.user_name.data, password=form.password.data
            )
        except services.AccountExists as exc:
            getattr(form, exc.field).errors.append(exc.message)
        else:
            response = _signed_in_response(user, remember=False, next_url=url_for("home.index"))
            flash(f"Welcome, {user.user_name}! Your account is ready.", "success")
            return response
    status = 422 if form.is_submitted() else 200
    return render("auth/register.html", "form", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_login_email_key)
def login():
    next_url = safe_next(request.values.get("next"), url_for("home.index"))
    if current_user.is_authenticated:
        return redirect(next_url)
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except services.SignInRefused as exc:
            error = str(exc)
        else:
            if user is not None:
                response = _signed_in_response(user, remember=form.remember.data, next_url=next_url)
                flash(f"Signed in as {user.user_name}.", "success")
                return response
            error = INVALID_CREDENTIALS
    status = 422 if form.is_submitted() else 200
    return render("auth/login.html", "form", form=form, error=error, next=next_url), status


@bp.post("/logout")
def logout():
    EmptyForm()  # CSRFProtect has already checked the token; nothing else to read.
    auth_session = current_session()
    if auth_session is not None:
        services.end_session(auth_session)
        db.session.commit()
    from flask import session as flask_session

    flask_session.clear()
    flash("You are signed out.", "info")
    response = redirect_to(url_for("home.index"))
    clear_session_cookie(response)
    return response


@bp.get("/account/sessions")
@require_user
def sessions():
    return _render_sessions()


def _render_sessions(status: int = 200):
    current = current_session()
    return (
        render(
            "auth/sessions.html",
            "session_list",
            sessions=services.list_active_sessions(current_user),
            current_id=current.id if current else None,
            form=EmptyForm(),
        ),
        status,
    )


@bp.post("/account/sessions/<session_id>/revoke")
@require_user
def revoke_session(session_id: str):
    try:
        target = uuid.UUID(session_id)
    except ValueError:
        abort(404)
    current = current_session()
    if current is not None and target == current.id:
        flash("To end this device's session, sign out.", "warning")
    elif services.revoke_user_session(current_user, target):
        db.session.commit()
        flash("That device has been signed out.", "success")
    else:
        # Someone else's session, or one already ended: the same answer, revealing nothing.
        abort(404)
    if is_htmx():
        return _render_sessions()
    return redirect(url_for("auth.sessions"))


@bp.post("/account/sessions/revoke-others")
@require_user
def revoke_other_sessions():
    current = current_session()
    ended = services.revoke_all_sessions(current_user.id, except_id=current.id if current else None)
    db.session.commit()
    flash(
        f"Signed out {ended} other device{'s' if ended != 1 else ''}."
        if ended
        else "No other device was signed in.",
        "success",
    )
    if is_htmx():
        return _render_sessions()
    return redirect(url_for("auth.sessions"))
