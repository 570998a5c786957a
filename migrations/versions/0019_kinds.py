"""The notification kinds of the everyday gestures and data rights: reaction (likes, grouped
per item), comment_reply, data_export_ready.

Revision ID: 0019_kinds
Revises: 0018_hardening
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_kinds"
down_revision = "0018_hardening"
branch_labels = None
depends_on = None

OLD_KINDS = (
    "comment_on_post",
    "mention",
    "followed_author_posted",
    "post_archived",
    "comment_removed",
    "account_suspended",
    "chat_message",
    "daily_digest",
)
NEW_KINDS = (*OLD_KINDS, "reaction", "comment_reply", "data_export_ready")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _set_kinds(kinds: tuple[str, ...]) -> None:
    for table in ("notifications", "notification_preferences"):
        op.drop_constraint(op.f(f"ck_{table}_kind"), table, type_="check")
        op.create_check_constraint("kind", table, _in("kind", kinds))


def upgrade() -> None:
    _set_kinds(NEW_KINDS)


def downgrade() -> None:
    new = NEW_KINDS[len(OLD_KINDS) :]
    for table in ("notifications", "notification_preferences"):
        rows = sa.table(table, sa.column("kind"))
        op.execute(rows.delete().where(rows.c.kind.in_(new)))
    _set_kinds(OLD_KINDS)
