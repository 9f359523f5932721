"""Reconciling with SIMS ID's own list: every way the bot and the list differ.

SIMS ID pushes nothing, so its list (one row per installation it knows) is the truth the
bot checks itself against. The list goes into a temporary table and two joins find every
difference at once, whatever the sizes; the rows that agree never reach Python. The
differences are applied by the lifecycle (`store/lifecycle/reconcile.py`).

What differs, and how it is applied (docs/reconcile.md):

* new: listed, unknown to the bot or removed: a new installation (pending, or enabled
  when the list says yes);
* gone: not listed, pending, enabled or disabled in the bot: removed;
* approved in SIMS ID: yes in the list, pending or disabled in the bot: enabled;
* disabled in SIMS ID: no in the list, enabled in the bot: disabled ("no" agrees with
  pending and with disabled);
* credentials differ: the list gives a client key and secret, the bot has others or
  none: SIMS ID's are stored.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
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
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from store.models import Application, Credential, Installation, Meta, Site, State
from store.sqlutil import table_of
from store.vault import VaultError

_COPY_CHUNK = 10_000

Pair = tuple[str, str]  # (application id, site id)


class Kind(StrEnum):
    """A kind of difference, in the order the table lists them."""

    NEW = "new"
    GONE = "gone"
    APPROVED = "approved in SIMS ID"
    DISABLED = "disabled in SIMS ID"
    CREDENTIALS = "credentials differ"


KIND_ORDER = {kind: position for position, kind in enumerate(Kind)}


class Listed(NamedTuple):
    """One row of SIMS ID's list, already validated (a tuple: lists are 200,000 long)."""

    application_id: str
    application_name: str
    site_id: str
    site_name: str
    enabled: bool
    site_urn: str | None = None
    site_dfe_number: str | None = None
    # As SIMS ID's report viewer shows them; both or neither.
    client_key: str | None = None
    client_secret: str | None = None

    @property
    def pair(self) -> Pair:
        return (self.application_id, self.site_id)


class Difference(NamedTuple):
    """One way the bot differs from the list, with what is needed to apply it."""

    kind: Kind
    application_id: str
    site_id: str
    application_name: str
    site_name: str
    bot_state: State | None  # None: the bot has never heard of it
    listed_enabled: bool | None  # None: not in the list
    installation_id: int | None = None
    version: int | None = None
    bot_key: str | None = None  # the client key the bot holds (CREDENTIALS)
    listed_key: str | None = None  # SIMS ID's client key (CREDENTIALS)
    listed: Listed | None = None  # the list's row (every kind but GONE), for the apply


@dataclass
class Comparison:
    """Every difference between the bot and a list of `listed` rows."""

    listed: int
    differences: list[Difference]

    @property
    def agree(self) -> bool:
        return not self.differences

    def counts(self) -> Counter[Kind]:
        return Counter(d.kind for d in self.differences)

    @property
    def removals(self) -> int:
        return self.counts()[Kind.GONE]

    def of(self, kind: Kind) -> list[Difference]:
        return [d for d in self.differences if d.kind is kind]


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
    load_rows(conn, LISTED, ((r[0], r[2], r[4], r[7], n) for n, r in enumerate(rows)))
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
            cred.c.client_key,
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
    for n, inst_id, raw_state, version, bot_key, secret in session.execute(query):
        row = rows[n]
        app_id, site_id = row[0], row[2]
        state = None if raw_state is None else states[raw_state]
        names = (app_id, site_id, row.application_name, row.site_name, state, row.enabled)
        if state is None or state is State.REMOVED:
            add(Difference(Kind.NEW, *names, inst_id, version, listed=row))
        elif row.enabled and state is not State.ENABLED:
            add(Difference(Kind.APPROVED, *names, inst_id, version, listed=row))
        elif not row.enabled and state is State.ENABLED:
            add(Difference(Kind.DISABLED, *names, inst_id, version, listed=row))
        key = row.client_key
        if key is not None and (bot_key != key or secret != row.client_secret):
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
            apps.c.name,
            sites.c.name,
        )
        .join(apps, apps.c.id == inst.c.application_id)
        .join(sites, sites.c.id == inst.c.site_id)
        .where(inst.c.state != State.REMOVED, unlisted)
    )
    return [
        Difference(
            kind=Kind.GONE,
            application_id=app_id,
            site_id=site_id,
            application_name=app_name,
            site_name=site_name,
            bot_state=State(state),
            listed_enabled=None,
            installation_id=inst_id,
            version=version,
        )
        for inst_id, version, state, app_id, site_id, app_name, site_name in session.execute(query)
    ]


# -- the last scheduled run, for /healthz (any process may serve it) ---------------

LAST_RUN_KEY = "reconcile:last"


def record_run(session: Session, summary: dict[str, Any]) -> None:
    """Remember how the latest scheduled reconciliation went (plain JSON-able values).

    Only the process that won the period's claim writes it, so writers do not race.
    """
    session.merge(Meta(key=LAST_RUN_KEY, value=json.dumps(summary)))


def last_run(session: Session) -> dict[str, Any] | None:
    """How the latest scheduled reconciliation went, or None if none has run."""
    try:
        row = session.get(Meta, LAST_RUN_KEY, populate_existing=True)
        if row is None or row.value is None:
            return None
        loaded: dict[str, Any] = json.loads(row.value)
    except (VaultError, ValueError):
        # A health check must answer even when the record cannot be read.
        return {"status": "unknown"}
    return loaded
