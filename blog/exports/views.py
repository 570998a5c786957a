"""Download your data: ask for it, watch it being built, download it. Thin: parse, check
access, call a service, commit."""

from __future__ import annotations

import uuid
from math import ceil

from flask import Blueprint, Response, abort, flash, url_for
from flask_login import current_user

from blog.auth.access import require_user
from blog.auth.limits import limit, user_key
from blog.core.db import utcnow
from blog.core.errors import render_error
from blog.core.htmx import is_htmx, keep_flashes, redirect_to, render
from blog.exports import services
from blog.exports.access import access_export
from blog.extensions import db, limiter
from blog.uploads.storage import get_storage, iter_blob

bp = Blueprint("exports", __name__)

ACCOUNT_ANCHOR = "account-export"


def _account_url() -> str:
    return url_for("auth.account", _anchor=ACCOUNT_ANCHOR)


def _fragment() -> str:
    return render("exports/_export.html", data_export=services.export_state(current_user.id))


@bp.post("/account/export")
# A flood guard in front of the one-a-day rule (which the service keeps, with its message).
@limiter.limit(limit("data_export"), key_func=user_key)
@require_user
def start():
    try:
        services.request_export(current_user)
    except services.ExportRefused as exc:
        db.session.rollback()
        body, status = render_error(
            429, str(exc), links=[("Go to your account page", _account_url())]
        )
        response = Response(body, status)
        wait = (exc.next_at - utcnow()).total_seconds()
        response.headers["Retry-After"] = str(max(1, ceil(wait)))
        return response
    db.session.commit()
    if is_htmx():
        return _fragment()
    flash(
        "We are gathering your data. This page shows how far it got; we will also send you "
        "an email with the link when it is ready.",
        "info",
    )
    return redirect_to(_account_url())


@bp.get("/account/export/<uuid:export_id>")
@require_user
def status(export_id: uuid.UUID):
    """The account page's download section alone (htmx polls it while the build runs); a
    plain request goes to the account page itself."""
    access_export(current_user, export_id)
    if not is_htmx():
        return redirect_to(_account_url())
    keep_flashes()  # a timer fires this: flash messages stay for the page
    return _fragment()


@bp.get("/account/export/<uuid:export_id>/download")
@require_user
def download(export_id: uuid.UUID):
    export = access_export(current_user, export_id)
    if export.is_expired(utcnow()):
        return render("exports/expired.html"), 410
    if export.status != "ready" or export.blob_key is None:
        abort(404)
    try:
        stream = get_storage().open(export.blob_key)
    except FileNotFoundError:
        abort(404)
    made = export.finished_at or export.requested_at
    name = f"blog-data-{export.user_id.hex[:8]}-{made:%Y%m%d}.zip"
    response = Response(
        iter_blob(stream),
        content_type="application/zip",
        direct_passthrough=True,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            # Personal data: never in a shared cache, nor kept by the browser's.
            "Cache-Control": "private, no-store",
            "Vary": "Cookie",
        },
    )
    if export.blob_size is not None:
        response.content_length = export.blob_size
    return response
