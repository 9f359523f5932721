"""reasons for decisions, and removal requests waiting for a second admin

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 11:45:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The audit row keeps the reason a person gave; the installation keeps the reason of
    its last change (shown on its message) and an open removal request, if any. All
    nullable: rows written before this had no reason."""
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(), nullable=True))
    # Written out, not imported from store.models: a migration must not change with them.
    decisions = sa.text(
        "action IN ('approve', 'enable', 'disable', 'remove', 'remove_requested', "
        "'removal_cancelled')"
    )
    op.create_index(
        "ix_audit_decisions",
        "audit_entry",
        ["id"],
        unique=False,
        postgresql_where=decisions,
        sqlite_where=decisions,
    )
    with op.batch_alter_table("installation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_reason", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("removal_requested_by", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("removal_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("removal_reason", sa.String(), nullable=True))
        batch_op.create_index(
            "ix_installation_removal_requested", ["removal_requested_at"], unique=False
        )


def downgrade() -> None:
    """Drop the columns; reasons and removal requests given meanwhile are lost."""
    # In place, not batch mode: on SQLite (3.35 and later drop a plain column) a batch
    # would copy `installation` and drop the old one, which the foreign keys of the rows
    # that refer to it (audit, credentials, outbox...) forbid. The index goes first:
    # SQLite drops no indexed column.
    op.drop_index("ix_installation_removal_requested", table_name="installation")
    for column in (
        "removal_reason",
        "removal_requested_at",
        "removal_requested_by",
        "change_reason",
    ):
        op.drop_column("installation", column)
    op.drop_index("ix_audit_decisions", table_name="audit_entry")
    op.drop_column("audit_entry", "reason")
