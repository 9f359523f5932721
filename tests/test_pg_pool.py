"""PostgreSQL connections: checked before use only after a pause, and reads without a
transaction (store/db.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from store.db import Database, DatabaseUnavailable

pytestmark = pytest.mark.postgres


def _backend(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(text("SELECT pg_backend_pid()")) or 0)


def _terminate(url: str, pid: int) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        # Waits (up to 10 s) until the process has gone, not only been told to.
        gone = conn.scalar(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})
    engine.dispose()
    assert gone


@pytest.fixture
def dbs(postgres_url: str) -> Iterator[list[Database]]:
    made: list[Database] = []
    yield made
    for db in made:
        db.dispose()


def test_a_connection_back_from_a_pause_is_checked_and_a_dead_one_replaced(
    postgres_url: str, dbs: list[Database]
) -> None:
    db = Database(postgres_url, trust_for=0.0)  # every checkout comes after a "pause"
    dbs.append(db)
    first = _backend(db)
    _terminate(postgres_url, first)

    assert _backend(db) != first  # answered, on a new connection


def test_a_connection_used_a_moment_ago_is_trusted_and_one_failure_resets_the_pool(
    postgres_url: str, dbs: list[Database]
) -> None:
    db = Database(postgres_url, trust_for=3600.0)
    dbs.append(db)
    first = _backend(db)
    _terminate(postgres_url, first)

    # The price of not checking: the one request that meets the dead connection fails,
    # as it would have while the server was away.
    with pytest.raises(DatabaseUnavailable):
        _backend(db)
    assert _backend(db) != first  # the pool let it go; the next request is answered


def test_reads_run_each_statement_on_its_own_and_writes_in_one_transaction(
    postgres_url: str, dbs: list[Database]
) -> None:
    db = Database(postgres_url)
    dbs.append(db)
    same_start = text("SELECT transaction_timestamp() = statement_timestamp()")
    with db.read() as session:
        session.execute(text("SELECT pg_sleep(0.01)"))
        assert session.scalar(same_start) is True  # no BEGIN: a transaction per statement
    with db.session() as session:
        session.execute(text("SELECT pg_sleep(0.01)"))
        assert session.scalar(same_start) is False  # one transaction from BEGIN to COMMIT


def test_statistics_not_refreshed_are_a_warning_not_a_failure(
    postgres_url: str, dbs: list[Database], caplog: pytest.LogCaptureFixture
) -> None:
    # `ingest` and `reconcile --apply` refresh them after their changes have committed:
    # a database gone by then must not turn a finished import into a traceback.
    gone = Database(postgres_url.rsplit("/", 1)[0] + "/simsid_no_such_database")
    dbs.append(gone)

    gone.refresh_statistics()

    assert "planner statistics not refreshed" in caplog.text
