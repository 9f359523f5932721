"""index for due reminders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 09:00:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index the reminder query: one range per step over pending, posted installations."""
    with op.batch_alter_table("installation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_installation_remind",
            ["state", "message_status", "reminders_sent", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    """Drop the reminder index."""
    with op.batch_alter_table("installation", schema=None) as batch_op:
        batch_op.drop_index("ix_installation_remind")
