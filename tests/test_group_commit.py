"""Group commit: concurrent install events share transactions, and each is answered for itself.

Requests hand their events to one committer thread per process (store/group_commit.py),
which writes whatever is waiting in one transaction and answers each request after that
commit. These tests drive it over real HTTP: many senders at once, and a batch in which
one event is refused by the database itself (a trigger), which must fail alone.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bot.app import BotApp
from bot.sandbox.fake_slack import FakeSlack
from store.db import Database, DatabaseUnavailable
from store.group_commit import GroupCommit
from store.lifecycle import Lifecycle
from store.models import AuditEntry, Installation, ProcessedEvent
from tests import harness
from tests.conftest import make_settings
from tests.harness import Client, event_body, wait_until

SENDERS = 16
EACH = 12


def _count(db: Database, model: type) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def served_any(fake_slack: FakeSlack, db_url: str):  # type: ignore[no-untyped-def]
    """The bot on SQLite and on PostgreSQL, served over loopback HTTP."""
    from bot.app import create_app

    app = create_app(make_settings(fake_slack, db_url))
    try:
        with harness.serving(app) as url:
            yield app, Client(url)
    finally:
        app.delivery.stop()
        app.db.dispose()


def test_concurrent_senders_each_get_202_and_every_event_is_stored_once(served_any) -> None:
    bot, _ = served_any
    url = _.base
    start = threading.Barrier(SENDERS)

    def sender(k: int) -> list[int]:
        client = Client(url)
        start.wait(10)
        statuses = []
        for n in range(EACH):
            body = event_body(
                event_id=f"evt_gc_{k}_{n}", site_id=f"s-{k}-{n}", site_name=f"School {k}-{n}"
            )
            statuses.append(client.send_event(body).status)
        return statuses

    with ThreadPoolExecutor(SENDERS) as pool:
        answers = Counter(s for result in pool.map(sender, range(SENDERS)) for s in result)
    assert answers == Counter({202: SENDERS * EACH})
    assert _count(bot.db, ProcessedEvent) == SENDERS * EACH
    assert _count(bot.db, Installation) == SENDERS * EACH
    assert _count(bot.db, AuditEntry) == SENDERS * EACH  # one "installed" row each


def test_the_same_event_sent_by_many_at_once_is_accepted_once(served_any) -> None:
    bot, client = served_any
    body = event_body(event_id="evt_gc_same")
    start = threading.Barrier(SENDERS)

    def send(_: int) -> int:
        start.wait(10)
        return Client(client.base).send_event(body).status

    with ThreadPoolExecutor(SENDERS) as pool:
        answers = Counter(pool.map(send, range(SENDERS)))
    assert answers == Counter({202: 1, 200: SENDERS - 1})
    assert _count(bot.db, Installation) == 1
    assert _count(bot.db, AuditEntry) == 1


def test_one_failing_event_fails_alone_and_its_batch_is_stored(
    bot: BotApp, served: Client, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = sqlite_url.removeprefix("sqlite:///")
    with bot.db.engine.begin() as conn:
        # The database itself refuses this one event, as it would a row it cannot hold.
        conn.execute(
            text(
                "CREATE TRIGGER refuse_bad BEFORE INSERT ON processed_event "
                "WHEN NEW.id = 'evt_bad' BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
            )
        )
    committer = bot.wsgi._webhook._committer
    names = ["evt_ok_1", "evt_ok_2", "evt_bad", "evt_ok_3", "evt_ok_4"]
    # Hold SQLite's write lock so that the committer waits at BEGIN with the first event,
    # and the others gather behind it: all of them, the first too, then make one batch
    # (the batch is taken once the transaction has begun).
    beginning = harness.sqlite_write_lock_asked(bot.db, lambda: committer._thread)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with ThreadPoolExecutor(len(names) + 1) as pool:
            first = pool.submit(served.install, event_id="evt_first", site_id="s-first")
            assert _wait(lambda: len(committer._queue) == 1 and committer._thread is not None)
            assert beginning.wait(10)  # the committer now waits for the lock
            rest = {
                n: pool.submit(served.install, event_id=n, site_id=f"s-{n}", site_name=n)
                for n in names
            }
            assert _wait(lambda: len(committer._queue) == len(names) + 1), len(committer._queue)
            holder.execute("COMMIT")
            assert first.result(10).status == 202
            answers = {n: f.result(10) for n, f in rest.items()}
    finally:
        holder.close()
    assert answers["evt_bad"].status == 500
    assert answers["evt_bad"].json() == {"error": "the event could not be stored"}
    assert {n: a.status for n, a in answers.items() if n != "evt_bad"} == dict.fromkeys(
        ["evt_ok_1", "evt_ok_2", "evt_ok_3", "evt_ok_4"], 202
    )
    with bot.db.read() as session:
        stored = set(session.scalars(select(ProcessedEvent.id)))
    assert stored == {"evt_first", "evt_ok_1", "evt_ok_2", "evt_ok_3", "evt_ok_4"}
    assert f"a batch of {len(names) + 1} install events failed" in caplog.text


def test_database_unavailable_fails_the_whole_batch(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    broken = Database(f"sqlite:///{gone}/db.sqlite")
    gone.rmdir()
    committer = GroupCommit(broken, Lifecycle())
    from bot.simsid.schema import parse_event

    events = [parse_event(event_body(event_id=f"evt_down_{n}")) for n in range(6)]

    def apply(event):  # type: ignore[no-untyped-def]
        try:
            committer.apply(event)
        except DatabaseUnavailable:
            return "unavailable"
        return "stored"

    with ThreadPoolExecutor(len(events)) as pool:
        assert set(pool.map(apply, events)) == {"unavailable"}
    broken.dispose()


def _wait(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    return wait_until(predicate, timeout, interval=0.01)
