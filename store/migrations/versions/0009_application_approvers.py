"""approvers per application: users and user groups who may act on its installations

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 04:05:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """`application_approver`: (application, principal), a principal being a Slack user or
    user group id; an application without rows is left to SIMSID_ADMINS alone."""
    op.create_table(
        "application_approver",
        sa.Column("application_id", sa.String(length=200), nullable=False),
        sa.Column("principal", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["application.id"]),
        sa.PrimaryKeyConstraint("application_id", "principal"),
    )


def downgrade() -> None:
    """Drop the table: the applications are left to SIMSID_ADMINS alone."""
    op.drop_table("application_approver")
