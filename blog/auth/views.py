"""Sign up, sign in, sign out, devices, and the account's mail links (confirm the address, reset
the password, change the address). Thin: parse, check, call a service, commit."""

from __future__ import annotations

import uuid
from datetime import UTC

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
from flask import session as flask_session
from flask_login import current_user

from blog.auth import policy, services
from blog.auth.access import require_user, safe_next
from blog.auth.forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    DeleteAccountForm,
    EmptyForm,
    LoginForm,
    NewPasswordForm,
    RegisterForm,
    ResetRequestForm,
)
from blog.auth.limits import (
    limit,
    login_email_key,
    mail_was_sent,
    reset_email_key,
    user_key,
)
from blog.auth.models import TokenPurpose
from blog.auth.sessions import clear_session_cookie, current_session, set_session_cookie
from blog.auth.tokens import LIFETIMES, TokenInvalid, access_token
from blog.core.htmx import is_htmx, redirect_to, render
from blog.exports.services import export_state  # --- exports
from blog.extensions import db, limiter

bp = Blueprint("auth", __name__)

INVALID_CREDENTIALS = "The email address or password is not right."


def signed_in_response(user, *, remember: bool, next_url: str) -> Response:
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
@limiter.limit(limit("register"), methods=["POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    if not policy.registration_open():
        return render("auth/registration_closed.html"), 403 if request.method == "POST" else 200
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = services.register_user(
                email=form.email.data, user_name=form.user_name.data, password=form.password.data
            )
        except services.AccountExists as exc:
            getattr(form, exc.field).errors.append(exc.message)
        else:
            response = signed_in_response(user, remember=False, next_url=url_for("home.index"))
            flash(
                f"Welcome, {user.user_name}! Your account is ready. We sent a link to "
                f"{user.email}: open it to confirm your address.",
                "success",
            )
            return response
    status = 422 if form.is_submitted() else 200
    return render("auth/register.html", "form", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(limit("login"), methods=["POST"])
@limiter.limit(limit("login"), methods=["POST"], key_func=login_email_key)
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
                response = signed_in_response(user, remember=form.remember.data, next_url=next_url)
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


# --------------------------------------------------------------------------- mail links

TOKEN_PROBLEMS: dict[str, tuple[int, str]] = {
    "unknown": (404, "This link is not valid. Check that you copied all of it."),
    "used": (410, "This link has already been used, or a newer one replaced it."),
    "expired": (410, "This link has expired."),
    "superseded": (410, "This link no longer works: the account changed since it was sent."),
}
NEXT_STEP: dict[str, tuple[str, str]] = {
    "verify_email": ("auth.account", "Ask for a new confirmation link"),
    "reset_password": ("auth.reset_request", "Ask for a new reset link"),
    "change_email": ("auth.change_email", "Start the change again"),
}


def _link_page(body: str, status: int = 200) -> Response:
    """A page reached through a mailed link: its URL carries a secret, so send no Referer."""
    response = current_app.make_response((body, status))
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _bad_link(exc: TokenInvalid, purpose: TokenPurpose) -> Response:
    status, message = TOKEN_PROBLEMS[exc.problem]
    endpoint, label = NEXT_STEP[purpose]
    body = render(
        "auth/bad_link.html",
        "notice",
        message=message,
        next_url=url_for(endpoint),
        next_label=label,
    )
    return _link_page(body, status)


@bp.route("/verify-email/<token>", methods=["GET", "POST"])
def verify_email(token: str):
    # GET only shows a button: mail scanners that open links must not spend the token.
    try:
        found = access_token(token, "verify_email")
    except TokenInvalid as exc:
        return _bad_link(exc, "verify_email")
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            services.verify_email(token)
        except TokenInvalid as exc:  # spent by a concurrent click
            return _bad_link(exc, "verify_email")
        db.session.commit()
        flash("Thank you: your email address is confirmed.", "success")
        signed_in = current_user.is_authenticated
        return redirect_to(url_for("home.index" if signed_in else "auth.login"))
    return _link_page(render("auth/verify_email.html", form=form, user=found.user))


@bp.post("/account/verify/resend")
@limiter.limit(limit("verify_resend"))
@limiter.limit(limit("verify_resend"), key_func=user_key)
@require_user
def resend_verification():
    EmptyForm()  # CSRFProtect has already checked the token
    next_url = safe_next(request.form.get("next"), url_for("auth.account"))
    if current_user.is_verified:
        flash("Your email address is already confirmed.", "info")
    else:
        services.request_email_verification(current_user)
        db.session.commit()
        hours = int(LIFETIMES["verify_email"].total_seconds() // 3600)
        flash(
            f"We sent a new confirmation link to {current_user.email}. It works for {hours} hours.",
            "success",
        )
    return redirect_to(next_url)


@bp.route("/reset-password", methods=["GET", "POST"])
@limiter.limit(limit("reset"), methods=["POST"])
@limiter.limit(limit("reset_email"), methods=["POST"], key_func=reset_email_key)
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        # The same redirect whether or not the address has an account (no enumeration).
        services.request_password_reset(form.email.data)
        db.session.commit()
        return redirect_to(url_for("auth.reset_sent"))
    status = 422 if form.is_submitted() else 200
    return render("auth/reset_request.html", "form", form=form), status


@bp.get("/reset-password/sent")
def reset_sent():
    hours = int(LIFETIMES["reset_password"].total_seconds() // 3600)
    return render("auth/reset_sent.html", hours=hours)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        found = access_token(token, "reset_password")
    except TokenInvalid as exc:
        return _bad_link(exc, "reset_password")
    user = found.user
    form = NewPasswordForm(user_name=user.user_name, email=user.email)
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data)
        except TokenInvalid as exc:
            return _bad_link(exc, "reset_password")
        db.session.commit()
        # Every session of the account ended, this browser's too: start clean.
        flask_session.clear()
        flash("Your password has been changed and every device signed out. Sign in now.", "success")
        response = redirect_to(url_for("auth.login"))
        clear_session_cookie(response)
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
    status = 422 if form.is_submitted() else 200
    body = render("auth/reset_password.html", "form", form=form, token=token, user=user)
    return _link_page(body, status)


# --------------------------------------------------------------------------- account


@bp.get("/account")
@require_user
def account():
    return render(
        "auth/account.html",
        has_password=current_user.has_password,
        identities=list(current_user.accounts),
        data_export=export_state(current_user.id),  # --- exports
    )


@bp.route("/account/password", methods=["GET", "POST"])
@limiter.limit(limit("reauth"), methods=["POST"])
@limiter.limit(limit("reauth"), methods=["POST"], key_func=user_key)
@require_user
def change_password():
    if not current_user.has_password:
        # Nothing to change: a password is added through the reset mail (it proves the mailbox).
        flash(
            "Your account has no password yet: ask for a link by mail on the password reset "
            "page to set one.",
            "info",
        )
        return redirect_to(url_for("auth.account"))
    form = ChangePasswordForm(user_name=current_user.user_name, email=current_user.email)
    if form.validate_on_submit():
        current = current_session()
        try:
            ended = services.change_password(
                current_user,
                current_password=form.current_password.data,
                new_password=form.password.data,
                keep_session_id=current.id if current else None,
            )
        except services.WrongPassword as exc:
            form.current_password.errors.append(str(exc))
        else:
            db.session.commit()
            others = (
                f" {ended} other device{'s' if ended != 1 else ''} signed out." if ended else ""
            )
            flash(f"Your password has been changed.{others}", "success")
            return redirect_to(url_for("auth.account"))
    status = 422 if form.is_submitted() else 200
    return render("auth/change_password.html", "form", form=form), status


@bp.route("/account/delete", methods=["GET", "POST"])
@limiter.limit(limit("reauth"), methods=["POST"])
@limiter.limit(limit("reauth"), methods=["POST"], key_func=user_key)
@require_user
def delete_account():
    retention = policy.retention()
    form = DeleteAccountForm()
    if not current_user.has_password:
        form.password.label.text = f"Type your user name ({current_user.user_name}) to confirm"
    if form.validate_on_submit():
        try:
            purge_after = services.delete_account(
                current_user,
                password=form.password.data,
                retention=retention,
                ip=request.remote_addr,
            )
        except services.WrongPassword as exc:
            form.password.errors.append(str(exc))
        else:
            db.session.commit()
            # Every session of the account ended, this browser's too.
            flask_session.clear()
            when = purge_after.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            flash(
                f"Your account has been deleted and you are signed out. Its personal data will "
                f"be purged on {when}; until then an administrator can restore it.",
                "info",
            )
            response = redirect_to(url_for("home.index"))
            clear_session_cookie(response)
            return response
    status = 422 if form.is_submitted() else 200
    return render(
        "auth/delete_account.html", "form", form=form, retention_days=retention.days
    ), status


@bp.route("/account/email", methods=["GET", "POST"])
@limiter.limit(limit("reauth"), methods=["POST"])
@limiter.limit(limit("reauth"), methods=["POST"], key_func=user_key)
@limiter.limit(
    limit("account_mail"),
    methods=["POST"],
    key_func=user_key,
    deduct_when=mail_was_sent,
)
@require_user
def change_email():
    form = ChangeEmailForm()
    if not current_user.has_password:
        form.password.label.text = f"Type your user name ({current_user.user_name}) to confirm"
    if form.validate_on_submit():
        try:
            new_email = services.request_email_change(
                current_user, password=form.password.data, new_email=form.email.data
            )
        except services.WrongPassword as exc:
            form.password.errors.append(str(exc))
        except services.SameEmail as exc:
            form.email.errors.append(str(exc))
        except services.AccountExists as exc:
            form.email.errors.append(exc.message)
        else:
            db.session.commit()
            flash(
                f"We sent a link to {new_email}. Your address changes when you open it; "
                f"until then it stays {current_user.email}.",
                "success",
            )
            return redirect_to(url_for("auth.account"))
    status = 422 if form.is_submitted() else 200
    return render("auth/change_email.html", "form", form=form), status


@bp.route("/confirm-email/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str):
    try:
        found = access_token(token, "change_email")
    except TokenInvalid as exc:
        return _bad_link(exc, "change_email")
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            user, _old_email = services.change_email(token)
        except TokenInvalid as exc:
            return _bad_link(exc, "change_email")
        except services.AccountExists as exc:
            body = render(
                "auth/bad_link.html",
                "notice",
                message=exc.message,
                next_url=url_for("auth.change_email"),
                next_label=NEXT_STEP["change_email"][1],
            )
            return _link_page(body, 409)
        db.session.commit()
        flash(f"Your email address is now {user.email}.", "success")
        signed_in = current_user.is_authenticated
        return redirect_to(url_for("auth.account" if signed_in else "auth.login"))
    return _link_page(
        render(
            "auth/confirm_email_change.html",
            form=form,
            user=found.user,
            new_email=found.new_email,
        )
    )
