"""Download your data: one row per request, with its progress and its archive's key.

Revision ID: 0025_exports
Revises: 0024_reports
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_exports"
down_revision = "0024_reports"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "data_exports",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="requested", nullable=False),
        sa.Column("progress", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("blob_key", sa.String(length=200), nullable=True),
        sa.Column("blob_size", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "status IN ('requested', 'building', 'ready', 'failed', 'expired')",
            name=op.f("ck_data_exports_status"),
        ),
        sa.CheckConstraint(
            "progress BETWEEN 0 AND 100", name=op.f("ck_data_exports_progress_range")
        ),
        sa.CheckConstraint(
            "(status = 'ready') = (blob_key IS NOT NULL)",
            name=op.f("ck_data_exports_blob_iff_ready"),
        ),
        sa.CheckConstraint(
            "status <> 'ready' OR (finished_at IS NOT NULL AND expires_at IS NOT NULL)",
            name=op.f("ck_data_exports_ready_has_times"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_data_exports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
    )
    op.create_index(
        "ix_data_exports_user_id_requested_at",
        "data_exports",
        ["user_id", "requested_at"],
        unique=False,
    )
    op.create_index(
        "ix_data_exports_ready_expires_at",
        "data_exports",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'ready'"),
    )


def downgrade():
    op.drop_index(
        "ix_data_exports_ready_expires_at",
        table_name="data_exports",
        postgresql_where=sa.text("status = 'ready'"),
    )
    op.drop_index("ix_data_exports_user_id_requested_at", table_name="data_exports")
    op.drop_table("data_exports")
