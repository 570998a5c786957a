from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from blog.auth.access import require_admin, require_moderator
from blog.auth.models import User, UserSession
from blog.core.db import utcnow
from blog.extensions import db

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@require_admin
def index():
    now = utcnow()
    users_by_role = dict(
        db.session.execute(select(User.role, func.count()).group_by(User.role)).all()
    )
    live_sessions = db.session.scalar(
        select(func.count())
        .select_from(UserSession)
        .where(UserSession.revoked_at.is_(None), UserSession.expires_at > now)
    )
    from blog.admin.database import activity_charts

    return render_template(
        "admin/index.html",
        users_by_role=users_by_role,
        live_sessions=live_sessions,
        activity=activity_charts(),
    )


@bp.get("/moderation")
@require_moderator
def moderation():
    return render_template("admin/moderation.html")


# The account and settings pages attach their routes to `bp`.
from blog.admin import database as _database  # noqa: E402, F401
from blog.admin import operations as _operations  # noqa: E402, F401
from blog.admin import settings as _settings  # noqa: E402, F401
from blog.admin import users as _users  # noqa: E402, F401
