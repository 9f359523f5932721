"""Keyset paging: a page starts after (or ends before) an item's (sort key, id), never at
an offset, so every page is one range read of an index whatever its depth.

Each listing builds its statements once with `seek()`: the first page, the page after a
cursor and the page before one (read backwards, then turned round).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Integer, Select, Subquery, and_, bindparam, or_
from sqlmodel import Session

from store.models import UTCDateTime
from store.queries.results import Cursor, Page

T = TypeVar("T")


@dataclass(frozen=True)
class Seek:
    """A listing's statements, ordered by (key, ident); bind `limit` (and `k`, `i`)."""

    first: Any
    after: Any
    before: Any
    decode_key: Callable[[str | int], Any]
    decode_id: Callable[[str | int], Any]


def _decoder(key: Any) -> Callable[[str | int], Any]:
    if isinstance(key.type, UTCDateTime):
        return lambda value: datetime.fromisoformat(str(value))
    if isinstance(key.type, Integer):
        return lambda value: int(value)
    return lambda value: str(value)


def cursor_value(value: Any) -> str | int:
    """A sort key or id as a cursor holds it (JSON-safe)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int):
        return value
    return str(value)


def seek(base: Any, key: Any, ident: Any, *, descending: bool = False) -> Seek:
    """The three statements of `base` in (key, ident) order (newest first if `descending`)."""
    k = bindparam("k", type_=key.type)
    i = bindparam("i", type_=ident.type)
    # The page size is written into the SQL, not sent as a parameter: PostgreSQL plans a
    # prepared statement once for all executions only when its plan does not depend on
    # the parameters, and the LIMIT decides between an index walk and a sort. With
    # `LIMIT $1` it planned again on every execution (a third of its CPU for a page).
    limit: Any = bindparam("limit", type_=Integer, literal_execute=True)
    # `key >= k` as well: an index on the key alone can answer that range, and not the OR.
    later = and_(key >= k, or_(key > k, ident > i))
    earlier = and_(key <= k, or_(key < k, ident < i))
    up = (key.asc(), ident.asc())
    down = (key.desc(), ident.desc())
    forward, backward = (down, up) if descending else (up, down)
    ahead, behind = (earlier, later) if descending else (later, earlier)
    return Seek(
        first=base.order_by(*forward).limit(limit),
        after=base.where(ahead).order_by(*forward).limit(limit),
        before=base.where(behind).order_by(*backward).limit(limit),
        decode_key=_decoder(key),
        decode_id=_decoder(ident),
    )


def fetch(
    session: Session,
    statements: Seek,
    params: dict[str, Any],
    *,
    after: Cursor | None,
    before: Cursor | None,
    limit: int,
    entities: bool = False,
) -> tuple[list[Any], bool, bool]:
    """(rows in listing order, has_more, has_previous) for one page; `entities` when the
    statement selects ORM entities rather than columns.

    Raises ValueError for a cursor whose key is not of the listing's kind.
    """
    values = dict(params, limit=limit + 1)
    # Core, not the ORM: the rows are plain columns, and the ORM's layer costs more than
    # the query on a page of 20.
    connection: Any = session if entities else session.connection()
    if before is not None:
        values.update(k=statements.decode_key(before[0]), i=statements.decode_id(before[1]))
        rows = list(connection.execute(statements.before, values))
        # Read backwards from the cursor: the extra row says whether more lie before.
        return rows[:limit][::-1], True, len(rows) > limit
    if after is not None:
        values.update(k=statements.decode_key(after[0]), i=statements.decode_id(after[1]))
        rows = list(connection.execute(statements.after, values))
        return rows[:limit], len(rows) > limit, True
    rows = list(connection.execute(statements.first, values))
    return rows[:limit], len(rows) > limit, False


def joined(statements: Seek, rows: Callable[[Subquery], Select[Any]]) -> Seek:
    """`statements` (ascending, selecting an id and then `k`, the sort key) with each
    page joined by `rows` to one row per item, in page order: one statement, not one
    for the page and another for its items."""

    def around(page: Select[Any], backwards: bool) -> Select[Any]:
        sub = page.subquery("page")
        ident = sub.c[page.selected_columns[0].name]
        return rows(sub).order_by(
            *((sub.c.k.desc(), ident.desc()) if backwards else (sub.c.k, ident))
        )

    return Seek(
        first=around(statements.first, False),
        after=around(statements.after, False),
        before=around(statements.before, True),
        decode_key=statements.decode_key,
        decode_id=statements.decode_id,
    )


def page(
    items: Sequence[T], keys: Sequence[Cursor], limit: int, has_more: bool, has_previous: bool
) -> Page[T]:
    return Page(tuple(items), limit, has_more, has_previous, tuple(keys))
