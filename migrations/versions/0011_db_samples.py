"""Database monitoring samples (a cron job records one every 5 minutes).

Revision ID: 0011_db_samples
Revises: 0010_comments
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011_db_samples"
down_revision = "0010_comments"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "db_samples",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "taken_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("connections", sa.Integer(), nullable=False),
        sa.Column("cache_hit_ratio", sa.Float(), nullable=False),
        sa.Column("database_bytes", sa.BigInteger(), nullable=False),
        sa.Column(
            "table_sizes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "slow_statements",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.CheckConstraint(
            "cache_hit_ratio BETWEEN 0 AND 1", name=op.f("ck_db_samples_cache_hit_ratio_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_db_samples")),
    )
    op.create_index("ix_db_samples_taken_at", "db_samples", ["taken_at"])
    # TRUNCATE skips row triggers: refuse it on the audit log with a statement trigger too.
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade():
    op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
    op.drop_index("ix_db_samples_taken_at", table_name="db_samples")
    op.drop_table("db_samples")
