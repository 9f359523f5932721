"""installations per application and state, kept by the lifecycle

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = ("PENDING", "ENABLED", "DISABLED", "REMOVED")


def upgrade() -> None:
    """`installation_count`: how many installations each application has in each state,
    so that `/simsid apps` and the digest read a few rows instead of counting every
    installation. Filled here from the installations; from now on the lifecycle keeps it
    in the same transaction as each change (store/lifecycle/tally.py, which can also
    rebuild it).
    """
    # PostgreSQL already has the `state` type, made with the installation table.
    state = sa.Enum(*STATES, name="state").with_variant(
        postgresql.ENUM(*STATES, name="state", create_type=False), "postgresql"
    )
    op.create_table(
        "installation_count",
        sa.Column("application_id", sa.String(length=200), nullable=False),
        sa.Column("state", state, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["application.id"]),
        sa.PrimaryKeyConstraint("application_id", "state"),
    )
    op.execute(
        "INSERT INTO installation_count (application_id, state, count) "
        "SELECT application_id, state, count(*) FROM installation "
        "GROUP BY application_id, state"
    )


def downgrade() -> None:
    """Drop the counts (the installations themselves are untouched)."""
    op.drop_table("installation_count")
