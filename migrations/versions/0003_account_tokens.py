"""Account tokens: verification_tokens (verify email, reset password, change email) and
users.password_changed_at (tokens issued before it are dead).

Revision ID: 0003_account_tokens
Revises: 0002_outbox
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_account_tokens"
down_revision = "0002_outbox"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "users", sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True)
    )

    op.create_table(
        "verification_tokens",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("new_email", sa.String(length=320), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('verify_email', 'reset_password', 'change_email')",
            name=op.f("ck_verification_tokens_purpose"),
        ),
        sa.CheckConstraint(
            "octet_length(token_hash) = 32", name=op.f("ck_verification_tokens_token_hash_sha256")
        ),
        sa.CheckConstraint(
            "expires_at > created_at", name=op.f("ck_verification_tokens_expires_after_created")
        ),
        sa.CheckConstraint(
            "(purpose = 'change_email') = (new_email IS NOT NULL)",
            name=op.f("ck_verification_tokens_new_email_iff_change"),
        ),
        sa.CheckConstraint(
            "new_email ~ '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$' AND new_email = lower(new_email)",
            name=op.f("ck_verification_tokens_new_email_format"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_verification_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_verification_tokens_token_hash")),
    )
    op.create_index(op.f("ix_verification_tokens_user_id"), "verification_tokens", ["user_id"])


def downgrade():
    op.drop_index(op.f("ix_verification_tokens_user_id"), table_name="verification_tokens")
    op.drop_table("verification_tokens")
    op.drop_column("users", "password_changed_at")
