"""the deciding person's email: a shared cache of users.info, and the audit row's copy

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 04:10:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """`user_email`: one row per Slack user who decided; `audit_entry.actor_email`."""
    op.create_table(
        "user_email",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    # A plain ADD COLUMN on both databases: the audit log may be large, never copied.
    op.add_column("audit_entry", sa.Column("actor_email", sa.String(length=254), nullable=True))


def downgrade() -> None:
    """Drop both: the emails are asked of Slack again after an upgrade."""
    # In place, as it was added: a batch would copy the audit log (SQLite 3.35 and later
    # drop a plain column).
    op.drop_column("audit_entry", "actor_email")
    op.drop_table("user_email")
