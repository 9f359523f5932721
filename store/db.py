"""Engine and session scope for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from store.sqlutil import SQLITE_FOLD_CASE, sqlite_fold_case

MIGRATIONS = Path(__file__).with_name("migrations")

# Seconds a writer waits on SQLite's lock before giving up; readers never wait in WAL mode.
SQLITE_BUSY_TIMEOUT_MS = 5000
# Idle SQLite connections kept open: closing the last connection to a WAL database makes
# SQLite checkpoint (and fsync) the log, which would otherwise happen after every unit of
# work; and each new connection pays for its pragmas. Enough for every HTTP thread.
SQLITE_POOL_SIZE = 16
SQLITE_POOL_OVERFLOW = 16


class DatabaseUnavailable(Exception):
    """The database cannot be reached or is locked: retry later."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    dbapi_connection.create_function(SQLITE_FOLD_CASE, 1, sqlite_fold_case, deterministic=True)


def _sqlite_begin(conn: Any) -> None:
    # A writer takes the lock at BEGIN so two writers queue on busy_timeout instead of one
    # failing at once when it upgrades a read to a write; readers never wait in WAL mode.
    if conn.get_execution_options().get("simsid_write", False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine configured for the dialect: WAL and foreign keys on SQLite, pre-ping on PG."""
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
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=5,
        connect_args={"connect_timeout": 5},
    )


class Database:
    """One engine and a session scope; every unit of work opens its own session."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self._write_engine = self.engine.execution_options(simsid_write=True)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A unit of work: commits once at the end, rolls back on any error."""
        bind = self._write_engine if write else self.engine
        try:
            with Session(bind, expire_on_commit=False) as session:
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

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError) as exc:
            raise DatabaseUnavailable(str(exc.orig or exc).splitlines()[0]) from exc

    def read(self) -> Any:
        """A read-only unit of work (on SQLite it takes no write lock)."""
        return self.session(write=False)

    def is_empty(self) -> bool:
        return not inspect(self.engine).get_table_names()

    def dispose(self) -> None:
        self.engine.dispose()
