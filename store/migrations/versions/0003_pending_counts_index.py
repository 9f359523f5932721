"""indexes for the digest's pending counts and for exact site names

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 08:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Written out, not imported from store.models: a migration must not change with the models.
ASCII_NAME_SQL = "lower(replace(name, '\u212a', 'k'))"

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The digest counts pending installations per application and finds the oldest:
    with (state, application_id, created_at) that is one ordered read of the index
    alone, without visiting the rows or sorting for the GROUP BY.

    `/simsid customer <name>` compares names case-insensitively; this expression
    (store.models.ASCII_NAME_SQL) lets an index answer it instead of a scan of every site.
    """
    with op.batch_alter_table("installation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_installation_state_app_created",
            ["state", "application_id", "created_at"],
            unique=False,
        )
    op.create_index("ix_site_ascii_name", "site", [sa.text(ASCII_NAME_SQL)], unique=False)


def downgrade() -> None:
    """Drop both indexes."""
    op.drop_index("ix_site_ascii_name", table_name="site")
    with op.batch_alter_table("installation", schema=None) as batch_op:
        batch_op.drop_index("ix_installation_state_app_created")
