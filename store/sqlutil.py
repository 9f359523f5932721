"""Dialect-aware statements that SQLite and PostgreSQL both support under other names."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel


def insert_ignore(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns how many rows were inserted."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    table = model.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Without preserve_rowcount, psycopg reports -1 for an INSERT, which reads as "inserted".
    result = session.execute(
        insert(table).values(rows).on_conflict_do_nothing(),
        execution_options={"preserve_rowcount": True},
    )
    inserted = int(getattr(result, "rowcount", -1))
    if inserted < 0:
        raise RuntimeError(f"the {dialect} driver did not say how many rows were inserted")
    return inserted


def insert_or_update(
    session: Session,
    model: type[SQLModel],
    row: dict[str, Any],
    *,
    key: list[str],
    update: dict[str, Any],
) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET update."""
    dialect = session.get_bind().dialect.name
    table = model.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(row)
    session.execute(stmt.on_conflict_do_update(index_elements=key, set_=update))
