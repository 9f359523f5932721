"""What the lifecycle wrote, comparable across two databases: the equivalence tests'
snapshot of every row, with autoincrement ids replaced by the (application, site) they
stand for and random keys and secrets by whether they exist."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from store.db import Database
from store.models import (
    Application,
    AuditEntry,
    Credential,
    CredentialOrigin,
    Installation,
    OutboxItem,
    ProcessedEvent,
    Site,
)

Snapshot = dict[str, list[Any]]
_databases = count()


@contextmanager
def fresh_sqlite(template: Path, directory: Path) -> Iterator[Database]:
    """A new SQLite database, copied from the migrated template."""
    path = directory / f"side-{next(_databases)}.db"
    shutil.copy(template, path)
    db = Database(f"sqlite:///{path}")
    try:
        yield db
    finally:
        db.dispose()
        path.unlink()


@contextmanager
def fresh_postgres(url: str) -> Iterator[Database]:
    """The migrated PostgreSQL database, emptied, its ids counting from 1 again."""
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
                if r[0] != "alembic_version"
            ]
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        yield db
    finally:
        db.dispose()


def ordered(rows: Any) -> list[Any]:
    """Rows in a fixed order, whatever their ids were (None sorts too)."""
    return sorted(rows, key=repr)


def snapshot(db: Database) -> Snapshot:
    """Every row the lifecycle writes, with ids replaced by what they stand for."""
    with db.read() as session:
        installs = list(session.scalars(select(Installation).order_by(Installation.id)))  # type: ignore[arg-type]
        key = {i.id: (i.application_id, i.site_id) for i in installs}

        def inst(row: Installation) -> tuple[Any, ...]:
            values = row.model_dump(exclude={"id"})
            return tuple(sorted(values.items()))

        def audit(row: AuditEntry) -> tuple[Any, ...]:
            values = row.model_dump(exclude={"id", "installation_id"})
            return (key[row.installation_id], *sorted(values.items()))

        def queued(row: OutboxItem) -> tuple[Any, ...]:
            values = row.model_dump(exclude={"id", "installation_id", "dedupe_key", "payload"})
            payload = dict(row.payload or {})
            payload.pop("id", None)  # a fresh uuid per decision
            if "client_key" in payload:  # random, as in credentials below
                payload["client_key"] = payload["client_key"] is not None
            dedupe = row.dedupe_key
            if dedupe is not None and row.installation_id is not None:
                dedupe = dedupe.replace(str(row.installation_id), "<installation>")
            return (
                key.get(row.installation_id),
                dedupe,
                sorted(payload.items()),
                *sorted(values.items()),
            )

        def credential(row: Credential) -> tuple[Any, ...]:
            # The bot's keys and secrets are random: that one exists (and is live) is what
            # must agree; SIMS ID's are what its list says.
            given = row.origin == CredentialOrigin.SIMS_ID
            return (
                key[row.installation_id],
                row.secret is not None,
                row.created_at,
                row.origin,
                (row.client_key, row.secret) if given else None,
            )

        audit_rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))  # type: ignore[arg-type]
        outbox_rows = session.scalars(select(OutboxItem).order_by(OutboxItem.id))  # type: ignore[arg-type]
        return {
            "installations": ordered(inst(i) for i in installs),
            "audit": [audit(a) for a in audit_rows],
            "outbox": [queued(o) for o in outbox_rows],
            "credentials": sorted(credential(c) for c in session.scalars(select(Credential))),
            "applications": ordered(
                tuple(sorted(a.model_dump().items())) for a in session.scalars(select(Application))
            ),
            "sites": ordered(
                tuple(sorted(s.model_dump().items())) for s in session.scalars(select(Site))
            ),
            "processed": ordered(
                (p.id, key.get(p.installation_id), p.received_at)
                for p in session.scalars(select(ProcessedEvent))
            ),
        }


def by_installation(rows: list[tuple[Any, ...]]) -> dict[Any, list[tuple[Any, ...]]]:
    grouped: dict[Any, list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return grouped
