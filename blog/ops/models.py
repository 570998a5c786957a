"""Runtime configuration rows and the health-check heartbeat table."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from blog.core.db import Base, Timestamps, UUIDPrimaryKey, utcnow


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


class DbSample(UUIDPrimaryKey, Base):
    """A snapshot of the database's health, taken every 5 minutes (blog/ops/monitoring.py)."""

    __tablename__ = "db_samples"
    __table_args__ = (
        CheckConstraint("cache_hit_ratio BETWEEN 0 AND 1", name="cache_hit_ratio_range"),
        Index("ix_db_samples_taken_at", "taken_at"),
    )

    taken_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    connections: Mapped[int]
    cache_hit_ratio: Mapped[float]
    database_bytes: Mapped[int] = mapped_column(BigInteger)
    # {table name: total bytes with indexes and TOAST}
    table_sizes: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict, server_default="{}")
    # [{statement, calls, max_ms, mean_ms}], the slowest first
    slow_statements: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
