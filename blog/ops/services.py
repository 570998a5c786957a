"""Changing runtime settings. Services add and flush; the view commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from blog.audit.services import record_audit
from blog.auth.models import User
from blog.core.settings import SETTINGS, SettingInvalid
from blog.extensions import db
from blog.ops.models import Configuration
from blog.outbox.events import emit


def stored_settings(environment: str) -> dict[str, Any]:
    """What the table holds for this environment now (not the caches): for the editor."""
    rows = db.session.execute(
        select(Configuration.key, Configuration.value).where(
            Configuration.environment == environment
        )
    ).all()
    return {key: value for key, value in rows}


def set_setting(
    key: str, value: Any, *, environment: str, actor: User, ip: str | None = None
) -> bool:
    """Validate and store a setting; audited, emits config.changed. False if unchanged.

    Raises KeyError for an unknown key and SettingInvalid for a value its schema refuses.
    """
    setting = SETTINGS[key]
    setting.validate(value)
    row = db.session.scalar(
        select(Configuration)
        .where(Configuration.key == key, Configuration.environment == environment)
        .with_for_update()
    )
    old = row.value if row is not None else None
    if row is not None and old == value:
        return False
    if row is None:
        row = Configuration(
            key=key, environment=environment, value=value, description=setting.description
        )
        db.session.add(row)
    else:
        row.value = value
    row.updated_by = actor.id
    db.session.flush()
    record_audit(
        actor_id=actor.id,
        action="config.change",
        entity_type="configuration",
        entity_id=f"{environment}:{key}",
        old={"value": old},
        new={"value": value},
        ip=ip,
    )
    emit(
        "config.changed",
        aggregate_type="configuration",
        aggregate_id=row.id,
        data={"key": key, "environment": environment},
    )
    return True


__all__ = ["SettingInvalid", "set_setting", "stored_settings"]
