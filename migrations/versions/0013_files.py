"""Uploads: file_metadata (content-addressed by SHA-256, one row per upload) and users'
uploaded avatars.

Revision ID: 0013_files
Revises: 0012_flags
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_files"
down_revision = "0012_flags"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "file_metadata",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("uploader_id", sa.UUID(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("checksum_sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("thumbnail_key", sa.String(length=200), nullable=True),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "purpose IN ('avatar', 'post_image', 'attachment', 'chat')",
            name=op.f("ck_file_metadata_purpose"),
        ),
        sa.CheckConstraint(
            "checksum_sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_file_metadata_checksum_hex")
        ),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_file_metadata_size_positive")),
        sa.CheckConstraint(
            "char_length(file_name) BETWEEN 1 AND 255",
            name=op.f("ck_file_metadata_file_name_length"),
        ),
        sa.CheckConstraint(
            "(width IS NULL AND height IS NULL) OR (width > 0 AND height > 0)",
            name=op.f("ck_file_metadata_dimensions"),
        ),
        sa.ForeignKeyConstraint(
            ["uploader_id"],
            ["users.id"],
            name=op.f("fk_file_metadata_uploader_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_metadata")),
    )
    op.create_index(op.f("ix_file_metadata_checksum_sha256"), "file_metadata", ["checksum_sha256"])
    op.create_index(
        "ix_file_metadata_uploader_id_created_at", "file_metadata", ["uploader_id", "created_at"]
    )
    op.add_column("users", sa.Column("avatar_file_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_users_avatar_file_id_file_metadata"),
        "users",
        "file_metadata",
        ["avatar_file_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(op.f("ix_users_avatar_file_id"), "users", ["avatar_file_id"])


def downgrade():
    op.drop_index(op.f("ix_users_avatar_file_id"), table_name="users")
    op.drop_constraint(op.f("fk_users_avatar_file_id_file_metadata"), "users", type_="foreignkey")
    op.drop_column("users", "avatar_file_id")
    op.drop_index("ix_file_metadata_uploader_id_created_at", table_name="file_metadata")
    op.drop_index(op.f("ix_file_metadata_checksum_sha256"), table_name="file_metadata")
    op.drop_table("file_metadata")
