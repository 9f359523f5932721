"""The comparison: every way the bot and SIMS ID's list differ, in two joins.

The list goes into a temporary table and two joins find every difference at once,
whatever the sizes; the rows that agree never reach Python (what each kind of difference
means: the package's docstring and docs/reconcile.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    exists,
    or_,
    select,
    text,
)
from sqlmodel import Session

from store.models import Application, Credential, Installation, Site, State
from store.reconcile.types import KIND_ORDER, Comparison, Difference, Kind, Listed
from store.sqlutil import load_rows, table_of

_temporary = MetaData()
LISTED = Table(
    "reconcile_listed",
    _temporary,
    Column("application_id", String(200), primary_key=True),
    Column("site_id", String(200), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("client_key", String(64), nullable=True),
    # The row's place in the list: a difference finds its row by it, so no second index
    # of a list of millions is built in Python.
    Column("n", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)


# Any number, the same in every process: PostgreSQL's advisory locks are keyed by one.
_APPLY_LOCK = 0x51D5_0001


def one_apply_at_a_time(session: Session) -> None:
    """Make this transaction's apply wait for any other to commit, then compare.

    Two applies of one list both compared before either wrote, and the second replaced
    credentials behind the first. On PostgreSQL a lock held until the transaction ends
    makes them take turns; SQLite's writers already do (BEGIN IMMEDIATE).
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPLY_LOCK})


@contextmanager
def listed_table(session: Session, rows: Sequence[Listed]) -> Iterator[Table]:
    """The list as a temporary table on the session's connection, for this unit of work.

    A temporary table lives as long as its (pooled) connection, so it is dropped here
    when done, and first, should a failed run have left one. Not ON COMMIT DROP on
    PostgreSQL: a read runs each statement on its own there, and would drop it at once.
    """
    conn = session.connection()
    LISTED.drop(conn, checkfirst=True)
    LISTED.create(conn)
    load_rows(
        conn,
        LISTED,
        ((r.application_id, r.site_id, r.enabled, r.client_key, n) for n, r in enumerate(rows)),
    )
    # Dropped only after a success: a failure rolls the transaction back, table and all,
    # and PostgreSQL takes no statement in a failed transaction (a DROP there would raise
    # in place of the failure and hide it).
    yield LISTED
    if not conn.closed and conn.in_transaction():
        LISTED.drop(conn, checkfirst=True)


def compare(session: Session, rows: Sequence[Listed]) -> Comparison:
    """Every difference between the bot's installations and SIMS ID's list `rows`.

    `rows` must not list one installation twice (the snapshot parser refuses that).
    Reads only; inside an apply, the caller's write transaction keeps it consistent.
    """
    with listed_table(session, rows) as listed:
        return compare_with(session, rows, listed)


def compare_with(session: Session, rows: Sequence[Listed], listed: Table) -> Comparison:
    """`compare`, with the list already in the temporary table `listed`."""
    differences = _listed_differences(session, rows, listed)
    differences.extend(_gone(session, listed))
    differences.sort(key=lambda d: (KIND_ORDER[d.kind], d.application_name, d.site_name, d.site_id))
    return Comparison(listed=len(rows), differences=differences)


def _listed_differences(
    session: Session, rows: Sequence[Listed], listed: Table
) -> list[Difference]:
    """Every difference of a listed row, each carrying its row."""
    inst = table_of(Installation)
    cred = table_of(Credential)
    given = listed.c.client_key.is_not(None)
    same_key = and_(given, cred.c.client_key == listed.c.client_key)
    query = (
        select(
            listed.c.n,
            inst.c.id,
            inst.c.state,
            inst.c.version,
            cred.c.client_key.label("bot_key"),
            # Decrypted only where a secret is to be compared: the key already agrees.
            case((same_key, cred.c.secret), else_=None).label("secret"),
        )
        .select_from(
            listed.outerjoin(
                inst,
                and_(
                    inst.c.application_id == listed.c.application_id,
                    inst.c.site_id == listed.c.site_id,
                ),
            ).outerjoin(cred, cred.c.installation_id == inst.c.id)
        )
        .where(
            or_(
                inst.c.id.is_(None),
                inst.c.state == State.REMOVED,
                and_(listed.c.enabled, inst.c.state != State.ENABLED),
                and_(~listed.c.enabled, inst.c.state == State.ENABLED),
                given,
            )
        )
    )
    found: list[Difference] = []
    add = found.append
    states = {s.name: s for s in State} | {s.value: s for s in State}
    for found_row in session.execute(query):
        row = rows[found_row.n]
        inst_id, version, bot_key = found_row.id, found_row.version, found_row.bot_key
        state = None if found_row.state is None else states[found_row.state]
        names = (
            row.application_id, row.site_id, row.application_name, row.site_name, state, row.enabled
        )  # fmt: skip
        if state is None or state is State.REMOVED:
            add(Difference(Kind.NEW, *names, inst_id, version, listed=row))
        elif row.enabled and state is not State.ENABLED:
            add(Difference(Kind.APPROVED, *names, inst_id, version, listed=row))
        elif not row.enabled and state is State.ENABLED:
            add(Difference(Kind.DISABLED, *names, inst_id, version, listed=row))
        key = row.client_key
        if key is not None and (bot_key != key or found_row.secret != row.client_secret):
            add(Difference(Kind.CREDENTIALS, *names, inst_id, version, bot_key, key, row))
    return found


def _gone(session: Session, listed: Table) -> list[Difference]:
    inst = table_of(Installation)
    apps = table_of(Application)
    sites = table_of(Site)
    unlisted = ~exists().where(
        listed.c.application_id == inst.c.application_id, listed.c.site_id == inst.c.site_id
    )
    query = (
        select(
            inst.c.id,
            inst.c.version,
            inst.c.state,
            inst.c.application_id,
            inst.c.site_id,
            apps.c.name.label("application_name"),
            sites.c.name.label("site_name"),
        )
        .join(apps, apps.c.id == inst.c.application_id)
        .join(sites, sites.c.id == inst.c.site_id)
        .where(inst.c.state != State.REMOVED, unlisted)
    )
    return [
        Difference(
            kind=Kind.GONE,
            application_id=row.application_id,
            site_id=row.site_id,
            application_name=row.application_name,
            site_name=row.site_name,
            bot_state=State(row.state),
            listed_enabled=None,
            installation_id=row.id,
            version=row.version,
        )
        for row in session.execute(query)
    ]
