"""Google sign-in over OpenID Connect (Authlib's Flask client): start, callback, link, unlink.

Security boundaries, all kept by Authlib and checked by tests against a real provider on
loopback: `state` (bound to this browser's signed cookie) stops login CSRF, the `nonce` and
PKCE bind the code to this flow, and the ID token's signature is checked against the
provider's JWKS along with its issuer, audience and expiry. The redirect URI is built from
SITE_URL, never from the request's Host.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from authlib.integrations.flask_client import OAuth, OAuthError
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    request,
    url_for,
)
from flask import session as flask_session
from flask_login import current_user
from joserfc.errors import JoseError

from blog.auth import identities
from blog.auth.access import require_user, safe_next
from blog.auth.forms import EmptyForm
from blog.auth.limits import limit, user_key
from blog.auth.services import SignInRefused
from blog.auth.views import signed_in_response
from blog.core.htmx import redirect_to, render
from blog.extensions import db, limiter

log = logging.getLogger(__name__)

bp = Blueprint("oidc", __name__)

PROVIDER = "google"
_FLOW_KEY = "oidc_flow"  # what to do when the provider sends the browser back


def init_oidc(app: Flask) -> None:
    """Register the Google client when it is configured (per app: tests build several)."""
    app.context_processor(lambda: {"google_sign_in": google_enabled()})
    if not app.config.get("GOOGLE_CLIENT_ID"):
        return
    oauth = OAuth(app)
    oauth.register(
        PROVIDER,
        client_id=app.config["GOOGLE_CLIENT_ID"],
        client_secret=app.config["GOOGLE_CLIENT_SECRET"],
        server_metadata_url=app.config["GOOGLE_DISCOVERY_URL"],
        client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
    )
    app.extensions["blog_oauth"] = oauth


def google_enabled() -> bool:
    return "blog_oauth" in current_app.extensions


def _client() -> Any:
    oauth = current_app.extensions.get("blog_oauth")
    if oauth is None:
        abort(404)
    return oauth.create_client(PROVIDER)


UNAVAILABLE = (
    "Google sign-in is unavailable right now. Try again in a minute, or sign in with your password."
)


class _FlowFailed(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _failed(message: str, status: int = 400) -> tuple[str, int]:
    return render("auth/oidc_error.html", message=message), status


def _start(intent: str, next_url: str) -> Any:
    flask_session[_FLOW_KEY] = {
        "intent": intent,
        "next": next_url,
        # A link must complete in the session that asked for it, not in another one.
        "user_id": str(current_user.id) if intent == "link" else None,
    }
    redirect_uri = current_app.config["SITE_URL"] + url_for("oidc.google_callback")
    try:
        response = _client().authorize_redirect(redirect_uri)
    except (requests.RequestException, ValueError, KeyError) as exc:
        log.warning("google sign-in: provider unreachable: %s", exc)
        return _failed(UNAVAILABLE, 503)
    if request.headers.get("HX-Request") == "true":
        # The provider's page is another site: htmx must navigate, not swap it in.
        return Response("", 204, {"HX-Redirect": response.location})
    return response


@bp.post("/login/google")
@limiter.limit(limit("login"))
def google_start():
    EmptyForm()  # CSRFProtect has checked the token: nobody can start a flow for this browser.
    next_url = safe_next(request.form.get("next"), url_for("home.index"))
    if current_user.is_authenticated:
        return redirect_to(next_url)
    return _start("login", next_url)


@bp.post("/account/identities/google/link")
@limiter.limit(limit("reauth"), key_func=user_key)
@require_user
def google_link():
    EmptyForm()
    return _start("link", url_for("auth.account"))


@bp.get("/login/google/callback")
@limiter.limit(limit("login"))
def google_callback():
    flow = flask_session.pop(_FLOW_KEY, None)
    try:
        if not isinstance(flow, dict):
            raise _FlowFailed("This sign-in link has expired or was already used. Start again.")
        identity = identities.ProviderIdentity.from_claims(PROVIDER, _verified_claims())
        if flow.get("intent") == "link":
            return _finish_link(identity, flow)
        user, created = identities.sign_in_with_identity(identity)
    except _FlowFailed as exc:
        return _failed(exc.message, exc.status)
    except identities.IdentityRefused as exc:
        db.session.rollback()
        return _failed(str(exc), 409)
    except SignInRefused as exc:
        db.session.commit()  # keeps a suspension lifted on the way, if one was
        return _failed(exc.notice, 403)
    response = signed_in_response(user, remember=False, next_url=flow.get("next") or "/")
    if created:
        flash(f"Welcome, {user.user_name}! Your account was created with Google.", "success")
    else:
        flash(f"Signed in as {user.user_name}.", "success")
    return response


def _verified_claims() -> dict[str, Any]:
    """The ID token's claims, checked by Authlib: state, code exchange, signature, iss, aud,
    exp, nonce. Raises _FlowFailed."""
    if request.args.get("error"):
        # The person said no at the provider, or the provider refused.
        raise _FlowFailed("Google sign-in was cancelled. Nothing has changed.")
    client = _client()
    try:
        token = client.authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        if "email" not in claims and claims.get("sub"):
            # Some providers keep the address out of the ID token: ask the userinfo endpoint,
            # and believe it only about the same subject (OpenID Connect Core 5.3.2).
            extra = client.userinfo(token=token)
            if extra.get("sub") == claims["sub"]:
                for key in ("email", "email_verified", "name"):
                    claims.setdefault(key, extra.get(key))
    except (requests.RequestException, ValueError) as exc:
        log.warning("google sign-in: provider unreachable: %s", exc)
        raise _FlowFailed(UNAVAILABLE, 503) from None
    except (OAuthError, JoseError, KeyError) as exc:
        log.warning("google sign-in refused: %s", exc)
        raise _FlowFailed(
            "Google sign-in could not be completed (the answer was not valid). Start again."
        ) from None
    return claims


def _finish_link(identity: identities.ProviderIdentity, flow: dict[str, Any]) -> Any:
    if not current_user.is_authenticated or str(current_user.id) != flow.get("user_id"):
        return _failed("Sign in again to link a Google account.", 403)
    identities.link_identity(current_user, identity)
    db.session.commit()
    flash("Google is linked: you can now sign in with it.", "success")
    return redirect_to(url_for("auth.account"))


@bp.post("/account/identities/<provider>/unlink")
@require_user
def unlink(provider: str):
    EmptyForm()
    if provider not in identities.PROVIDER_LABELS:
        abort(404)
    try:
        identities.unlink_identity(current_user, provider)
    except identities.IdentityRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect_to(url_for("auth.account"))
    db.session.commit()
    flash(f"{identities.PROVIDER_LABELS[provider]} is no longer linked to your account.", "success")
    return redirect_to(url_for("auth.account"))
