"""covering index for pending counts per application

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 08:00:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The digest counts pending installations per application and finds the oldest:
    with (state, application_id, created_at) that is one ordered read of the index
    alone, without visiting the rows or sorting for the GROUP BY."""
    with op.batch_alter_table("installation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_installation_state_app_created",
            ["state", "application_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    """Drop the pending-counts index."""
    with op.batch_alter_table("installation", schema=None) as batch_op:
        batch_op.drop_index("ix_installation_state_app_created")
