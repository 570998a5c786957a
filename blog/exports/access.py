"""Who may see a data download: its owner, and nobody else (not even staff)."""

from __future__ import annotations

import uuid

from flask import abort

from blog.auth.models import User
from blog.exports.models import DataExport
from blog.extensions import db


def access_export(user: User, export_id: uuid.UUID) -> DataExport:
    """The export, or 404: another person's request is answered as if it did not exist."""
    export = db.session.get(DataExport, export_id)
    if export is None:
        abort(404)
    if export.user_id != user.id:
        abort(404)
    return export
