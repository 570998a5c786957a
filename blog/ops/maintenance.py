"""Maintenance mode: a 503 page with the operator's message for everyone but administrators.

The probes stay up (a load balancer must not pull a healthy process), and so do sign-in and
the static files, or an administrator could not get in to switch it off.
"""

from __future__ import annotations

from flask import Flask, request
from flask_login import current_user

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
        body, status = render_error(503, setting.get("message") or DEFAULT_MESSAGE)
        response = app.make_response((body, status))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
