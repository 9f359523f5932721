"""Dialect-aware statements that SQLite and PostgreSQL both support under other names."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import JSON, Connection, CursorResult, Result, String, Table, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, SQLModel

# SQLite's own lower() folds ASCII only ("École" stays "École"), so matching names
# case-insensitively uses this Python function there; store.db registers it.
SQLITE_FOLD_CASE = "simsid_fold_case"


SQLiteValue = str | bytes | int | float | None


def sqlite_fold_case(value: SQLiteValue) -> SQLiteValue:
    return value.lower() if isinstance(value, str) else value


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a SQLModel class, for set-based statements."""
    # Not model.__table__: SQLModel sets it but does not declare it for mypy.
    table = inspect(model).local_table
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table


def rowcount(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an UPDATE or DELETE matched.

    Session.execute() is typed to return a plain Result; for DML it is a CursorResult,
    which is the one that knows the count.
    """
    if not isinstance(result, CursorResult):
        raise TypeError(f"expected the result of an UPDATE or DELETE, got {type(result)}")
    return result.rowcount


class fold_case(FunctionElement[str]):  # named like func.lower, which it replaces
    """lower() for every script: PostgreSQL's lower(), the Python one on SQLite."""

    type = String()
    inherit_cache = True


@compiles(fold_case)
def _fold_case(element: fold_case, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(fold_case, "sqlite")
def _fold_case_sqlite(element: fold_case, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_FOLD_CASE}({compiler.process(element.clauses, **kw)})"


def like_pattern(needle: str) -> str:
    """`%needle%` for LIKE ... ESCAPE '\\', LIKE's own characters in `needle` matched literally."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column: Any, needle: str) -> Any:
    """`column LIKE '%needle%'`, with LIKE's own characters in `needle` matched literally."""
    return column.like(like_pattern(needle), escape="\\")


def insert_ignore(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns how many rows were inserted."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    table = table_of(model)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Without preserve_rowcount, psycopg reports -1 for an INSERT, which reads as "inserted".
    result = session.execute(
        insert(table).values(rows).on_conflict_do_nothing(),
        execution_options={"preserve_rowcount": True},
    )
    inserted = rowcount(result)
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
    table = table_of(model)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(row)
    session.execute(stmt.on_conflict_do_update(index_elements=key, set_=update))


class json_pairs(FunctionElement[Any]):
    """An aggregate: the group's (a, b) values as a JSON array of two-item arrays, read
    back as a list of lists (json_group_array on SQLite, json_agg on PostgreSQL)."""

    type = JSON()
    inherit_cache = True


@compiles(json_pairs)
def _json_pairs(element: json_pairs, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_pairs, "sqlite")
def _json_pairs_sqlite(element: json_pairs, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


# -- bulk loading ---------------------------------------------------------------------

_COPY_CHUNK = 10_000


def load_rows(
    conn: Connection,
    table: Table,
    rows: Iterable[tuple[Any, ...]],
    columns: Sequence[str] | None = None,
) -> None:
    """Bulk-insert `rows` (tuples in `columns` order; default: every column): COPY on
    PostgreSQL, the driver's own executemany on SQLite, `_COPY_CHUNK` rows at a time, so
    a generator of rows is never held whole. SQLAlchemy's per-row parameter handling
    would cost more than the inserts themselves at 200,000 rows, so only the columns' own
    conversions run here (encryption, UTC times), each value once even when every row
    repeats it."""
    if isinstance(rows, Sequence) and not rows:
        return
    names = list(columns or [c.name for c in table.columns])
    dialect = conn.dialect
    converts = [(i, table.c[n].type.bind_processor(dialect)) for i, n in enumerate(names)]
    converts = [(i, f) for i, f in converts if f is not None]
    if converts:
        rows = _converted(rows, converts)
    listed = ", ".join(names)
    if dialect.name == "postgresql":
        raw: Any = conn.connection.driver_connection
        statement = f"COPY {table.name} ({listed}) FROM STDIN"
        try:
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except raw.IntegrityError as exc:
            # The driver's own error, past SQLAlchemy: given SQLAlchemy's shape, callers
            # catch one IntegrityError whatever the database.
            raise IntegrityError(statement, None, exc) from exc
    else:
        marks = ", ".join("?" for _ in names)
        # Names from our own Table definitions, never from input; values are bound.
        insert_sql = f"INSERT INTO {table.name} ({listed}) VALUES ({marks})"  # noqa: S608  (our own names)
        each = iter(rows)
        while chunk := list(islice(each, _COPY_CHUNK)):
            conn.exec_driver_sql(insert_sql, chunk)


def _converted(
    rows: Iterable[tuple[Any, ...]], converts: list[tuple[int, Any]]
) -> Iterator[tuple[Any, ...]]:
    last: dict[int, tuple[Any, Any]] = {}
    for row in rows:
        values = list(row)
        for i, convert in converts:
            value = values[i]
            seen = last.get(i)
            if seen is not None and seen[0] is value:
                values[i] = seen[1]
            else:
                values[i] = done = convert(value)
                last[i] = (value, done)
        yield tuple(values)
