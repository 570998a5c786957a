"""Write audit entries. Services call `record_audit` inside their own transaction."""

from __future__ import annotations

import uuid
from typing import Any

from blog.audit.models import AuditLog
from blog.extensions import db


def record_audit(
    *,
    actor_id: uuid.UUID | None,
    action: str,
    entity_type: str,
    entity_id: object | None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditLog:
    """Add an audit entry to the current transaction (committed with the change it records)."""
    entry = AuditLog(
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        old_values=old,
        new_values=new,
        ip=ip,
    )
    db.session.add(entry)
    return entry
