"""removal_voided_at: a void removal request says so in a column of its own

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 10:00:00.000000

"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported from store.models: a migration must not change with them.
# Before this revision a void request was a requester with no request time.
_VOID_BEFORE = sa.text("removal_requested_at IS NULL AND removal_requested_by IS NOT NULL")
# The audit row of the confirmation that found the request void (removals.py `_void`),
# and that of the request itself; the latest of each, when the audit log still has it.
_VOIDED_AUDIT = sa.literal_column(
    "(SELECT max(a.at) FROM audit_entry a"
    " WHERE a.installation_id = installation.id AND a.action = 'removal_cancelled'"
    " AND a.detail = 'request by ' || installation.removal_requested_by"
    " || ' void: no longer an admin')",
    sa.DateTime(timezone=True),
)
_INSTALLATION = sa.table(
    "installation",
    sa.column("removal_requested_at", sa.DateTime(timezone=True)),
    sa.column("removal_voided_at", sa.DateTime(timezone=True)),
)
_REQUESTED_AUDIT = sa.literal_column(
    "(SELECT max(a.at) FROM audit_entry a"
    " WHERE a.installation_id = installation.id AND a.action = 'remove_requested'"
    " AND a.actor = installation.removal_requested_by)",
    sa.DateTime(timezone=True),
)


def upgrade() -> None:
    """Add `removal_voided_at`, and move the void requests to it: voided when the audit
    row of the confirmation that found them void says (else now, the migration's time),
    requested when their `remove_requested` audit row says (else when voided)."""
    with op.batch_alter_table("installation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("removal_voided_at", sa.DateTime(timezone=True), nullable=True)
        )
    now = sa.bindparam("now", datetime.now(UTC), type_=sa.DateTime(timezone=True))
    op.execute(
        _INSTALLATION.update()
        .where(_VOID_BEFORE)
        .values(removal_voided_at=sa.func.coalesce(_VOIDED_AUDIT, now))
    )
    # A second statement: within one, removal_voided_at would still read NULL.
    op.execute(
        _INSTALLATION.update()
        .where(_VOID_BEFORE)
        .values(
            removal_requested_at=sa.func.coalesce(
                _REQUESTED_AUDIT, _INSTALLATION.c.removal_voided_at
            )
        )
    )


def downgrade() -> None:
    """Back to a void request as a requester with no request time; its times are lost."""
    op.execute(
        _INSTALLATION.update()
        .where(_INSTALLATION.c.removal_voided_at.is_not(None))
        .values(removal_requested_at=None)
    )
    # In place, not batch mode: on SQLite (3.35 and later drop a plain column) a batch
    # would copy the table and drop the old one, which the audit rows' foreign keys forbid.
    op.drop_column("installation", "removal_voided_at")
