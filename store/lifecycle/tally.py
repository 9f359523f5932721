"""Installations per application and state (the `installation_count` table), kept by the
lifecycle in the same transaction as each change, and rebuildable from the installations.

Every path that inserts an installation or changes its state records a delta here, in
the session; the deltas are written at the end of each public lifecycle call (`counting`,
which drops them when the call raised), one upsert per (application, state), in key
order. Nothing hooks SQLAlchemy's Session class: a session the lifecycle never touched
has no deltas. Writing them last and in one order keeps the hot rows (every new install of
an application adds to the same one) locked only briefly, and two transactions can
never wait on each other's counters in opposite orders.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from store.models import Installation, InstallationCount, State
from store.sqlutil import table_of

_DELTAS = "simsid_installation_count_deltas"
_TABLE: Table = table_of(InstallationCount)
_INSTALLS: Table = table_of(Installation)
_UPSERTS: dict[str, Any] = {}


def tally(session: Session, application_id: str, before: State | None, after: State | None) -> None:
    """One installation of `application_id` moved from `before` to `after` (None: no row)."""
    if before == after:
        return
    deltas: Counter[tuple[str, State]] = session.info.setdefault(_DELTAS, Counter())
    if before is not None:
        deltas[(application_id, State(before))] -= 1
    if after is not None:
        deltas[(application_id, State(after))] += 1


def _upsert(dialect: str) -> Any:
    built = _UPSERTS.get(dialect)
    if built is None:
        dml: Any = postgresql if dialect == "postgresql" else sqlite
        stmt = dml.insert(_TABLE)
        built = _UPSERTS[dialect] = stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.application_id, _TABLE.c.state],
            set_={"count": _TABLE.c["count"] + stmt.excluded["count"]},
        )
    return built


@contextmanager
def counting(session: Session) -> Iterator[None]:
    """Write the deltas recorded inside the block to the counts when it ends; drop them
    when it raises, as the unit of work that raised is rolled back (store/db.py)."""
    try:
        yield
    except BaseException:
        session.info.pop(_DELTAS, None)
        raise
    write_counts(session)


def write_counts(session: OrmSession) -> None:
    """Add the deltas recorded in this session to the counts (in this transaction)."""
    deltas: Counter[tuple[str, State]] | None = session.info.pop(_DELTAS, None)
    if not deltas:
        return
    rows = [
        {"application_id": app, "state": state, "count": n}
        for (app, state), n in sorted(deltas.items())
        if n
    ]
    if rows:
        # Through the connection: the ORM's execute path costs more than the upsert.
        core = session.connection()
        core.execute(_upsert(core.dialect.name), rows)


def recount(session: Session) -> None:
    """Rebuild every count from the installations themselves (in this transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        # Writers add their deltas just before they commit: they wait here until the
        # recount commits, and their changes, not yet visible to it, are added after.
        session.execute(text("LOCK TABLE installation_count IN EXCLUSIVE MODE"))
    session.info.pop(_DELTAS, None)
    session.execute(delete(_TABLE))
    session.execute(
        insert(_TABLE).from_select(
            ["application_id", "state", "count"],
            select(_INSTALLS.c.application_id, _INSTALLS.c.state, func.count()).group_by(
                _INSTALLS.c.application_id, _INSTALLS.c.state
            ),
        )
    )


def counts(session: Session) -> dict[tuple[str, State], int]:
    """Every non-zero count, as stored."""
    rows = session.execute(select(_TABLE.c.application_id, _TABLE.c.state, _TABLE.c["count"]))
    return {(app, State(state)): n for app, state, n in rows if n}


def full_recount(session: Session) -> dict[tuple[str, State], int]:
    """What the counts should be, counted from every installation (for checks and tests)."""
    rows = session.execute(
        select(_INSTALLS.c.application_id, _INSTALLS.c.state, func.count()).group_by(
            _INSTALLS.c.application_id, _INSTALLS.c.state
        )
    )
    return {(app, State(state)): n for app, state, n in rows if n}
