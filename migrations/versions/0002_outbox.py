"""Transactional outbox: domain_event_outbox, its archive, and the handler ledger.

Revision ID: 0002_outbox
Revises: 0001_foundation
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_outbox"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def _event_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("aggregate_type", sa.String(length=50), nullable=False),
        sa.Column("aggregate_id", sa.String(length=100), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column(
            "event_data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
    ]


def upgrade():
    op.create_table(
        "domain_event_outbox",
        *_event_columns(),
        sa.Column("position", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_event_outbox")),
        sa.UniqueConstraint("position", name=op.f("uq_domain_event_outbox_position")),
    )
    op.create_index(
        "ix_domain_event_outbox_unpublished",
        "domain_event_outbox",
        ["next_attempt_at", "position"],
        postgresql_where=sa.text("published_at IS NULL AND parked_at IS NULL"),
    )
    op.create_index(
        "ix_domain_event_outbox_aggregate",
        "domain_event_outbox",
        ["aggregate_type", "aggregate_id", "position"],
    )
    op.create_index(
        "ix_domain_event_outbox_published_at",
        "domain_event_outbox",
        ["published_at"],
        postgresql_where=sa.text("published_at IS NOT NULL"),
    )

    op.create_table(
        "domain_event_outbox_archive",
        *_event_columns(),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column(
            "archived_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_event_outbox_archive")),
        sa.UniqueConstraint("position", name=op.f("uq_domain_event_outbox_archive_position")),
    )
    op.create_index(
        "ix_domain_event_outbox_archive_aggregate",
        "domain_event_outbox_archive",
        ["aggregate_type", "aggregate_id"],
    )

    op.create_table(
        "outbox_handler_runs",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("handler", sa.String(length=200), nullable=False),
        sa.Column(
            "completed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_handler_runs")),
        sa.UniqueConstraint(
            "event_id", "handler", name=op.f("uq_outbox_handler_runs_event_id_handler")
        ),
    )


def downgrade():
    op.drop_table("outbox_handler_runs")
    op.drop_table("domain_event_outbox_archive")
    op.drop_table("domain_event_outbox")
