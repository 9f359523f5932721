"""Engine and session scope for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError, InvalidatePoolError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

# Re-exported: the handle a unit of work passes to store functions, so bot/ can name it
# without importing the SQL layer.
from sqlmodel import Session as Session

from store.sqlutil import SQLITE_FOLD_CASE, sqlite_fold_case

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")

# Seconds a writer waits on SQLite's lock before giving up; readers never wait in WAL mode.
SQLITE_BUSY_TIMEOUT_MS = 5000
# Idle SQLite connections kept open: closing the last connection to a WAL database makes
# SQLite checkpoint (and fsync) the log, which would otherwise happen after every unit of
# work; and each new connection pays for its pragmas. Enough for every HTTP thread.
SQLITE_POOL_SIZE = 16
SQLITE_POOL_OVERFLOW = 16
# A PostgreSQL connection back in the pool less than this many seconds is used unchecked.
TRUST_IDLE_S = 0.5


class DatabaseUnavailable(Exception):
    """The database cannot be reached or is locked: retry later."""


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    dbapi_connection.create_function(SQLITE_FOLD_CASE, 1, sqlite_fold_case, deterministic=True)


# What is left of a writer's busy timeout after its turn among this process's writers.
_write_budget = threading.local()


def _sqlite_begin(conn: Connection) -> None:
    # A writer takes the lock at BEGIN so two writers queue on busy_timeout instead of one
    # failing at once when it upgrades a read to a write; readers never wait in WAL mode.
    if conn.get_execution_options().get("simsid_write", False):
        _busy_timeout(conn, getattr(_write_budget, "ms", SQLITE_BUSY_TIMEOUT_MS))
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        _busy_timeout(conn, SQLITE_BUSY_TIMEOUT_MS)
        conn.exec_driver_sql("BEGIN")


def _busy_timeout(conn: Connection, ms: int) -> None:
    """Set the connection's busy timeout, only when it differs from what it is."""
    info = conn.connection.info
    if info.get("simsid_busy_ms", SQLITE_BUSY_TIMEOUT_MS) != ms:
        driver = conn.connection.driver_connection
        assert driver is not None  # a checked-out connection has its driver's connection
        driver.execute(f"PRAGMA busy_timeout={int(ms)}")
        info["simsid_busy_ms"] = ms


def make_engine(url: str, *, echo: bool = False, trust_for: float = TRUST_IDLE_S) -> Engine:
    """An engine configured for the dialect: WAL and foreign keys on SQLite; on
    PostgreSQL, connections idle over `trust_for` seconds are checked before use."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **(
                {}
                if ":memory:" in url
                else {
                    "poolclass": QueuePool,
                    "pool_size": SQLITE_POOL_SIZE,
                    "max_overflow": SQLITE_POOL_OVERFLOW,
                    "pool_timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                    # The connection used last has the warmest page cache.
                    "pool_use_lifo": True,
                }
            ),
        )
        # pysqlite's own transaction handling would defer BEGIN; take control of it.
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(
            engine,
            "connect",
            lambda dbapi_conn, _rec: setattr(dbapi_conn, "isolation_level", None),
        )
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=10,
        pool_timeout=5,
        pool_use_lifo=True,
        connect_args={"connect_timeout": 5},
    )
    _ping_when_idle(engine, trust_for)
    return engine


def _ping_when_idle(engine: Engine, trust_for: float) -> None:
    """Check a pooled connection before use unless it was in use less than `trust_for`
    seconds ago (HikariCP's aliveBypassWindowMs, 500 ms, does the same).

    SQLAlchemy's pool_pre_ping checks every checkout: a round trip, and CPU on both
    sides, on every listing. A connection used a moment ago is alive unless the server
    went away and came back within that moment; then its first statement fails, the
    pool drops every older connection, and that one request is answered "database is
    not answering" as during the outage itself.
    """
    dialect = engine.dialect

    def stamp(_dbapi_connection: Any, record: ConnectionPoolEntry, *_: Any) -> None:
        record.info["simsid_used"] = time.monotonic()

    def check(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        used = record.info.get("simsid_used")
        if used is not None and time.monotonic() - used < trust_for:
            return
        if not _alive(dialect, dbapi_connection):
            # As pre-ping does: a dead connection means its older siblings are dead too.
            raise InvalidatePoolError()

    event.listen(engine, "connect", stamp)
    event.listen(engine, "checkin", stamp)
    event.listen(engine, "checkout", check)


def _alive(dialect: Any, dbapi_connection: Any) -> bool:
    """Whether a psycopg connection answers; it is left with no transaction open (a
    read then sets it to autocommit, which psycopg refuses inside a transaction)."""
    was = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        return bool(dialect.do_ping(dbapi_connection))
    except dialect.loaded_dbapi.Error as exc:
        if dialect.is_disconnect(exc, dbapi_connection, None):
            return False
        raise
    finally:
        if not dbapi_connection.closed:
            dbapi_connection.autocommit = was


class Database:
    """One engine and a session scope; every unit of work opens its own session."""

    def __init__(self, url: str, *, echo: bool = False, trust_for: float = TRUST_IDLE_S) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo, trust_for=trust_for)
        self._write_engine = self.engine.execution_options(simsid_write=True)
        # PostgreSQL reads run each statement on its own (no BEGIN, no COMMIT: two round
        # trips fewer). At READ COMMITTED each statement of a transaction takes its own
        # snapshot anyway, so a listing sees nothing different. SQLite's BEGIN does give
        # a listing's statements one snapshot, and costs no round trip: it stays.
        self._read_engine = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._writers = threading.RLock()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A unit of work: commits once at the end, rolls back on any error."""
        bind = self._write_engine if write else self._read_engine
        turn = self._writer_turn() if write and self.is_sqlite else nullcontext()
        try:
            with turn, Session(bind, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        except OperationalError as exc:
            raise DatabaseUnavailable(str(exc.orig or exc).splitlines()[0]) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseUnavailable(str(exc.orig or exc).splitlines()[0]) from exc
            raise

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """SQLite has one writer at a time. This process's writers take turns here, where
        the next one starts the moment the last commits, rather than in SQLite's busy
        handler, which polls with growing sleeps (up to 100 ms) while the lock sits free.
        The wait here counts against the busy timeout: a writer gives up after it in all.
        """
        limit = SQLITE_BUSY_TIMEOUT_MS / 1000
        started = time.monotonic()
        if not self._writers.acquire(timeout=limit):
            raise DatabaseUnavailable("database is locked")
        previous = getattr(_write_budget, "ms", SQLITE_BUSY_TIMEOUT_MS)
        left = limit - (time.monotonic() - started)
        # Whole tenths of a second, so a short wait leaves the connection's setting alone.
        _write_budget.ms = min(previous, max(0, int(left * 10)) * 100)
        try:
            yield
        finally:
            _write_budget.ms = previous
            self._writers.release()

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError) as exc:
            raise DatabaseUnavailable(str(exc.orig or exc).splitlines()[0]) from exc

    def refresh_statistics(self) -> None:
        """After a bulk load, bring PostgreSQL's planner statistics up to date.

        Until autovacuum gets round to it (a minute or more), the planner would take a
        freshly loaded table for empty and pick plans that read whole tables: listings
        took 15-30 ms instead of 3. SQLite keeps no statistics unless asked, and its
        queries here are written for none, so it is left alone.
        """
        if self.is_sqlite:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        except DBAPIError as exc:
            # The changes it follows are committed; autovacuum will analyze in time.
            log.warning(
                "planner statistics not refreshed: %s", str(exc.orig or exc).splitlines()[0]
            )

    def read(self) -> AbstractContextManager[Session]:
        """A read-only unit of work (on SQLite it takes no write lock; on PostgreSQL each
        statement runs on its own, see __init__)."""
        return self.session(write=False)

    def is_empty(self) -> bool:
        return not inspect(self.engine).get_table_names()

    def dispose(self) -> None:
        self.engine.dispose()
