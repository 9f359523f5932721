"""maintenance windows: a Disable that the bot undoes at a given time

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 04:20:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """`maintenance_window`: when to enable an installation again, and at which version;
    the open ones (a handful) indexed by when they end."""
    op.create_table(
        "maintenance_window",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_reason", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["installation_id"], ["installation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_maintenance_window_open",
        "maintenance_window",
        ["ends_at"],
        unique=False,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.create_index(
        "ix_maintenance_window_installation",
        "maintenance_window",
        ["installation_id", "closed_at"],
        unique=False,
    )


def downgrade() -> None:
    """Drop the table: open windows are forgotten (their installations stay disabled)."""
    op.drop_table("maintenance_window")
