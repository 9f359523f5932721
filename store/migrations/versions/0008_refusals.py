"""lasting refusals by the chat service (a channel, the credentials), shared by processes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 03:20:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """`refusal`: a target that refused for a lasting reason, told once and retried on one
    clock by every process; a handful of rows at most."""
    op.create_table(
        "refusal",
        sa.Column("target", sa.String(length=80), nullable=False),
        sa.Column("error", sa.String(length=80), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("told_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("target"),
    )


def downgrade() -> None:
    """Drop the table: refusals are learnt again on the next refused call."""
    op.drop_table("refusal")
