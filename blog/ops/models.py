"""Runtime configuration rows and the health-check heartbeat table."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from blog.core.db import Base, Timestamps, UUIDPrimaryKey


class Configuration(UUIDPrimaryKey, Timestamps, Base):
    """A runtime setting (feature flag, rate limit, maintenance mode…) for one environment."""

    __tablename__ = "configuration"
    __table_args__ = (UniqueConstraint("key", "environment"),)

    key: Mapped[str] = mapped_column(String(100))
    environment: Mapped[str] = mapped_column(String(20))
    value: Mapped[Any] = mapped_column(JSONB)
    description: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class HealthCheck(UUIDPrimaryKey, Base):
    """The last readiness probe per component: a real write proves the database takes writes."""

    __tablename__ = "health_check"

    component: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    checked_at: Mapped[datetime]
