"""an index for decisions upstream refused, which /healthz counts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:30:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """`/healthz` counts the decisions upstream refused for good and finds the oldest:
    a few rows among every delivery ever made, found by an index of those rows alone."""
    op.create_index(
        "ix_outbox_failed",
        "outbox",
        ["kind", "created_at"],
        unique=False,
        sqlite_where=sa.text("failed = 1"),  # as SQLAlchemy writes the condition there
        postgresql_where=sa.text("failed"),
    )


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_outbox_failed", table_name="outbox")
