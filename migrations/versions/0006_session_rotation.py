"""Sessions: periodic token rotation (token_rotated_at, previous_token_hash).

Revision ID: 0006_session_rotation
Revises: 0005_suspension_details
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_session_rotation"
down_revision = "0005_suspension_details"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "sessions",
        sa.Column(
            "token_rotated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.add_column("sessions", sa.Column("previous_token_hash", sa.LargeBinary(), nullable=True))
    op.create_check_constraint(
        op.f("ck_sessions_previous_token_hash_sha256"),
        "sessions",
        "previous_token_hash IS NULL OR octet_length(previous_token_hash) = 32",
    )
    op.create_index(
        "ix_sessions_previous_token_hash",
        "sessions",
        ["previous_token_hash"],
        postgresql_where=sa.text("previous_token_hash IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_sessions_previous_token_hash", table_name="sessions")
    op.drop_constraint(op.f("ck_sessions_previous_token_hash_sha256"), "sessions", type_="check")
    op.drop_column("sessions", "previous_token_hash")
    op.drop_column("sessions", "token_rotated_at")
