"""The public moderation log (/moderation-log) and the admins' audit log (/admin/audit)."""

from __future__ import annotations

from flask import Blueprint, request

from blog.audit import queries
from blog.auth.access import require_admin
from blog.core.htmx import render

bp = Blueprint("audit", __name__)


@bp.get("/moderation-log")
def moderation_log():
    page = queries.moderation_log(request.args.get("after"))
    return render("audit/moderation_log.html", page=page, posts=queries.post_titles(page.entries))


@bp.get("/admin/audit")
@require_admin
def audit_log():
    filters = queries.AuditFilter(
        action=request.args.get("action", "")[:100].strip(),
        entity_type=request.args.get("entity_type", "")[:50].strip(),
        entity_id=request.args.get("entity_id", "")[:100].strip(),
        actor=request.args.get("actor", "")[:255].strip(),
    )
    page = queries.search_audit(filters, request.args.get("after"))
    return render("audit/audit_log.html", "results", page=page, filters=filters)
