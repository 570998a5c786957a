"""Maintenance mode: a 503 page with the operator's message for everyone but administrators.

The probes stay up (a load balancer must not pull a healthy process), and so do sign-in and
the static files, or an administrator could not get in to switch it off.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, request, url_for
from flask_login import current_user

from blog.core.db import utcnow
from blog.core.errors import render_error
from blog.core.settings import get_setting, register_setting

MAINTENANCE = register_setting(
    "maintenance",
    "Maintenance mode: everyone but administrators gets a 503 page with this message. "
    "/healthz and /readyz stay up; sign-in stays open so administrators can get in.",
    {"enabled": False, "message": ""},
    {
        "type": "object",
        "properties": {
            "enabled": {"type": "boolean"},
            "message": {"type": "string", "maxLength": 500},
        },
        "required": ["enabled"],
        "additionalProperties": False,
    },
)


EXEMPT_ENDPOINTS = frozenset(
    {
        "static",
        "ops.healthz",
        "ops.readyz",
        "auth.login",
        "auth.logout",
        "oidc.google_start",
        "oidc.google_callback",
    }
)
DEFAULT_MESSAGE = "The site is down for maintenance. Please come back shortly."
RETRY_AFTER_SECONDS = 300


def maintenance_on() -> bool:
    return bool(get_setting("maintenance").get("enabled"))


def init_maintenance(app: Flask) -> None:
    # For the administrators' banner: they pass the gate and must not forget it is closed.
    app.jinja_env.globals["maintenance_on"] = maintenance_on

    @app.before_request
    def maintenance_gate():
        if request.endpoint in EXEMPT_ENDPOINTS:
            return None
        setting = get_setting("maintenance")
        if not setting.get("enabled"):
            return None
        if current_user.is_authenticated and current_user.is_admin:
            return None
        body, status = render_error(
            503,
            setting.get("message") or DEFAULT_MESSAGE,
            come_back=_come_back(),
            links=_links(),
        )
        response = app.make_response((body, status))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


def _come_back() -> str:
    """When to try again, the Retry-After in words (the operator's message may say more)."""
    at = utcnow() + timedelta(seconds=RETRY_AFTER_SECONDS)
    return (
        f"Please try again in {RETRY_AFTER_SECONDS // 60} minutes or later (after {at:%H:%M} UTC)."
    )


def _links() -> list[tuple[str, str]]:
    """Only what works during maintenance: every page but sign-in answers this same 503, so
    "Go to the front page" would lead here again. Signed-in people who are not administrators
    get no link (sign-in would send them straight back here)."""
    if current_user.is_authenticated:
        return []
    next_url = request.path if request.method == "GET" else None
    return [("Administrators: sign in", url_for("auth.login", next=next_url))]
