"""External sign-in identities (`accounts`) and the public profile (display name, bio).

Revision ID: 0007_accounts_profile
Revises: 0006_session_rotation
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_accounts_profile"
down_revision = "0006_session_rotation"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "accounts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("provider IN ('google')", name=op.f("ck_accounts_provider")),
        sa.CheckConstraint("char_length(subject) > 0", name=op.f("ck_accounts_subject_present")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_accounts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("provider", "subject", name=op.f("uq_accounts_provider_subject")),
        # The second column lets the unique index also serve "this user's identities".
        sa.UniqueConstraint("user_id", "provider", name=op.f("uq_accounts_user_id_provider")),
    )
    op.add_column("users", sa.Column("display_name", sa.String(length=100), nullable=True))
    op.add_column("users", sa.Column("bio", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_users_bio_length"), "users", "bio IS NULL OR char_length(bio) <= 1000"
    )


def downgrade():
    op.drop_constraint(op.f("ck_users_bio_length"), "users", type_="check")
    op.drop_column("users", "bio")
    op.drop_column("users", "display_name")
    op.drop_table("accounts")
