"""Races on one installation, and outbox workers racing for rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from sqlalchemy import select, text

from store import outbox
from store.db import Database
from store.lifecycle import TRANSITIONS, Action, ActionResult, EventResult, Lifecycle
from store.models import Credential, OutboxItem, OutboxKind, State, utcnow
from tests.factories import (
    ADMIN,
    act,
    at,
    audit_rows,
    event,
    get,
    install,
    kept_open,
    outbox_rows,
)
from tests.harness import sqlite_write_lock_asked, wait_until

_kept_open = pytest.fixture(autouse=True)(kept_open)

THREADS = 8
ROUNDS = 3
ACTIONS = {a.value for a in Action}
T = TypeVar("T")


@pytest.fixture
def databases(db_url: str) -> Iterator[Callable[[int], list[Database]]]:
    """`n` Database objects for `n` threads: separate engines and connections on PostgreSQL;
    on SQLite one shared engine (NullPool: every session opens its own connection)."""
    made: list[Database] = []

    def make(n: int) -> list[Database]:
        if db_url.startswith("sqlite"):
            shared = Database(db_url)
            made.append(shared)
            return [shared] * n
        fresh = [Database(db_url) for _ in range(n)]
        made.extend(fresh)
        return fresh

    yield make
    for database in made:
        database.dispose()


def run_together(jobs: list[Callable[[], T]]) -> list[T]:
    """Start every job at the same moment on its own thread; return results in job order."""
    barrier = threading.Barrier(len(jobs))

    def start(job: Callable[[], T]) -> T:
        barrier.wait(timeout=10)
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(start, job) for job in jobs]
        return [f.result(timeout=60) for f in futures]


def race(
    dbs: list[Database],
    lc: Lifecycle,
    iid: int,
    actions: list[Action],
    *,
    expected_version: int | None,
) -> list[ActionResult]:
    def job(i: int) -> Callable[[], ActionResult]:
        return lambda: act(
            dbs[i],
            iid,
            actions[i],
            lifecycle=lc,
            actor=f"U0RACER{i:02d}",
            expected_version=expected_version,
        )

    return run_together([job(i) for i in range(len(actions))])


def check_race(
    db: Database, iid: int, start: State, audits_before: int, changes: list[ActionResult]
) -> list[ActionResult]:
    """The invariants of a race; returns the applied changes in the order they happened."""
    new_rows = [r for r in audit_rows(db, iid)[audits_before:] if r.action in ACTIONS]
    assert len(audit_rows(db, iid)) - audits_before == len(new_rows)  # nothing else written

    # The audit log, replayed from the initial state, is a valid walk of the diagram.
    state = start
    for row in new_rows:
        assert row.from_state == state.value, (row.action, row.from_state, state)
        target = TRANSITIONS[Action(row.action)].get(state)
        assert target is not None, f"{row.action} from {state} is not in the diagram"
        assert row.to_state == target.value
        state = target
    final = get(db, iid)
    assert final.state == state
    if new_rows:
        assert final.state.value == new_rows[-1].to_state

    applied = [c for c in changes if c.applied]
    refused = [c for c in changes if not c.applied]
    # Nothing applied twice, nothing applied unrecorded.
    assert len(applied) == len(new_rows)
    assert sorted(c.version for c in applied) == list(
        range(final.version - len(applied) + 1, final.version + 1)
    )
    by_version = sorted(applied, key=lambda c: c.version)
    assert [(c.action.value, c.changed_by) for c in by_version] == [
        (r.action, r.actor) for r in new_rows
    ]
    assert refused, "eight racers and nobody lost"
    assert all(c.refusal in {"illegal", "stale"} for c in refused)
    return by_version


def check_side_effects(db: Database, iid: int, *, applied_total: int) -> None:
    """Messages coalesced to one row, one decision per change, at most one credential."""
    [message] = outbox_rows(db, iid, OutboxKind.MESSAGE)
    assert message.done_at is None
    assert message.generation == 1 + applied_total  # the install, then every change
    assert len(outbox_rows(db, iid, OutboxKind.UPSTREAM)) == applied_total
    with db.read() as session:
        creds = session.scalars(select(Credential).where(Credential.installation_id == iid)).all()
    assert len(creds) <= 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_racing_on_a_seen_version_exactly_one_wins(
    db_url: str, databases: Callable[[int], list[Database]], round_: int
) -> None:
    dbs = databases(THREADS)
    lc = Lifecycle(upstream=True, default_channel="C0DEFAULT")
    iid = install(dbs[0], lc, site=f"site-{round_}")
    seen = get(dbs[0], iid).version
    actions = [[Action.APPROVE, Action.DISABLE, Action.REMOVE][i % 3] for i in range(THREADS)]

    changes = race(dbs, lc, iid, actions, expected_version=seen)

    [winner] = check_race(dbs[0], iid, State.PENDING, 1, changes)
    losers = [c for c in changes if not c.applied]
    assert len(losers) == THREADS - 1
    # Everyone saw the same message, so every loser is told someone else got there first.
    assert {c.refusal for c in losers} == {"stale"}
    assert {(c.state, c.changed_by) for c in losers} == {(winner.state, winner.changed_by)}
    check_side_effects(dbs[0], iid, applied_total=1)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_racing_approve_disable_remove_then_enable_disable_remove(
    db_url: str, databases: Callable[[int], list[Database]], round_: int
) -> None:
    dbs = databases(THREADS)
    lc = Lifecycle(upstream=True, default_channel="C0DEFAULT")
    iid = install(dbs[0], lc, site=f"site-{round_}")

    # First round, from pending.
    first = [[Action.APPROVE, Action.DISABLE, Action.REMOVE][i % 3] for i in range(THREADS)]
    changes = race(dbs, lc, iid, first, expected_version=None)
    applied = check_race(dbs[0], iid, State.PENDING, 1, changes)
    total = len(applied)

    # Second round, from disabled (bring it there if the first round ended elsewhere).
    state = get(dbs[0], iid).state
    if state is State.ENABLED:
        assert act(dbs[0], iid, Action.DISABLE, lifecycle=lc).applied
        total += 1
    elif state is State.PENDING:  # pragma: no cover - every first round moves it
        pytest.fail("the first round changed nothing")
    if get(dbs[0], iid).state is State.REMOVED:
        # Removed is final for actions: everyone is refused as illegal.
        audits = len(audit_rows(dbs[0], iid))
        again = race(dbs, lc, iid, first, expected_version=None)
        assert all(not c.applied and c.refusal == "illegal" for c in again)
        assert len(audit_rows(dbs[0], iid)) == audits
        check_side_effects(dbs[0], iid, applied_total=total)
        iid = install(dbs[0], lc, site=f"site-{round_}-b")
        assert act(dbs[0], iid, Action.DISABLE, lifecycle=lc).applied
        total = 1
    assert get(dbs[0], iid).state is State.DISABLED

    audits = len(audit_rows(dbs[0], iid))
    second = [[Action.ENABLE, Action.DISABLE, Action.REMOVE][i % 3] for i in range(THREADS)]
    changes = race(dbs, lc, iid, second, expected_version=None)
    applied = check_race(dbs[0], iid, State.DISABLED, audits, changes)
    check_side_effects(dbs[0], iid, applied_total=total + len(applied))

    # Secrets follow the state: issued by the first enable, kept until removed.
    with dbs[0].read() as session:
        cred = session.get(Credential, iid)
    final = get(dbs[0], iid).state
    ever_enabled = any(r.to_state == "enabled" for r in audit_rows(dbs[0], iid))
    assert (cred is not None) == ever_enabled
    if cred is not None:
        assert (cred.secret is None) == (final is State.REMOVED)


# -- outbox workers --------------------------------------------------------------------


@pytest.mark.parametrize("round_", range(2))
def test_two_outbox_workers_never_claim_the_same_row(
    db_url: str, databases: Callable[[int], list[Database]], round_: int
) -> None:
    dbs = databases(2)
    with dbs[0].session() as session:
        items = [
            outbox.enqueue(
                session, OutboxKind.DIGEST, now=utcnow(), channel="C0DEFAULT", payload={"n": i}
            )
            for i in range(60)
        ]
        session.flush()
        all_ids = {item.id for item in items}

    def worker(i: int) -> Callable[[], list[int]]:
        def loop() -> list[int]:
            claimed: list[int] = []
            while True:
                with dbs[i].session() as session:
                    batch = outbox.claim_due(session, worker=f"worker-{i}", limit=4)
                if not batch:
                    return claimed
                claimed.extend(c.id for c in batch)

        return loop

    first, second = run_together([worker(0), worker(1)])

    assert len(first) == len(set(first))
    assert len(second) == len(set(second))
    assert not set(first) & set(second)
    assert set(first) | set(second) == all_ids
    with dbs[0].read() as session:
        rows = session.scalars(select(OutboxItem)).all()
    owners = {r.id: r.claimed_by for r in rows}
    assert all(owners[i] == "worker-0" for i in first)
    assert all(owners[i] == "worker-1" for i in second)


def _until_waiting_on_a_lock(db: Database, db_url: str, writing: threading.Event) -> None:
    """Return once another transaction waits on a lock: on PostgreSQL a row lock seen in
    pg_stat_activity; on SQLite, whose writers wait inside BEGIN IMMEDIATE out of sight,
    once the other thread is issuing it (`writing`, set by `_apply_in_thread`)."""
    if db_url.startswith("sqlite"):
        assert writing.wait(20), "the event never began its write"
        return
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )

    def someone_waits() -> bool:
        with db.engine.connect() as conn:
            return bool(conn.scalar(waiting))

    if not wait_until(someone_waits, 20, interval=0.02):
        pytest.fail("the event never waited on the installation's lock")


def _apply_in_thread(
    db: Database, lc: Lifecycle, evt: object
) -> tuple[Callable[[], EventResult], threading.Event]:
    """Apply `evt` in its own transaction on a thread; the callable joins and answers, the
    event is set when the thread issues its SQLite write lock (BEGIN IMMEDIATE)."""
    outcome: list[EventResult] = []

    def run() -> None:
        with db.session() as session:
            outcome.append(lc.apply_event(session, evt))  # type: ignore[arg-type]

    thread = threading.Thread(target=run)
    writing = sqlite_write_lock_asked(db, lambda: thread) if db.is_sqlite else threading.Event()
    thread.start()

    def join() -> EventResult:
        thread.join(30)
        assert outcome, "the event's transaction failed"
        return outcome[0]

    return join, writing


def test_an_uninstall_that_waited_on_an_admins_change_is_applied_after_it(
    db_url: str, databases: Callable[[int], list[Database]]
) -> None:
    """SIMS ID's uninstall arrives while an admin's Approve is not yet committed. On
    PostgreSQL the event's compare-and-set then found a newer version and gave up
    silently: answered as stored, never applied, and its id taken (a resend: duplicate)."""
    admin_db, event_db, watcher = databases(3)
    lc = Lifecycle(upstream=True, default_channel="C0DEFAULT")
    iid = install(admin_db, lc, site="s-race", at=at(0))
    with admin_db.session() as session:
        approve = lc.act(session, installation_id=iid, action=Action.APPROVE, actor=ADMIN)
        assert approve.applied
        uninstall, writing = _apply_in_thread(
            event_db, lc, event(site="s-race", type="installation.removed", at=at(60))
        )
        _until_waiting_on_a_lock(watcher, db_url, writing)
    assert uninstall() is EventResult.ACCEPTED
    final = get(admin_db, iid)
    assert final.state is State.REMOVED
    actions = [row.action for row in audit_rows(admin_db, iid)]
    assert actions[-2:] == ["approve", "uninstalled"], actions


def test_an_older_event_that_waited_on_a_newer_one_is_stale(
    db_url: str, databases: Callable[[int], list[Database]]
) -> None:
    """Two events for one installation in two processes: the older one, which checked its
    time before the newer one committed, is stale and never writes its older time over the
    newer one's (else a later stale event would apply: a removed installation back pending)."""
    first_db, second_db, watcher = databases(3)
    lc = Lifecycle(upstream=True, default_channel="C0DEFAULT")
    iid = install(first_db, lc, site="s-order", at=at(0))
    with first_db.session() as session:
        removed = event(site="s-order", type="installation.removed", at=at(60))
        assert lc.apply_event(session, removed) is EventResult.ACCEPTED
        older, writing = _apply_in_thread(second_db, lc, event(site="s-order", at=at(30)))
        _until_waiting_on_a_lock(watcher, db_url, writing)
    assert older() is EventResult.STALE
    with first_db.session() as session:
        assert lc.apply_event(session, event(site="s-order", at=at(45))) is EventResult.STALE
    final = get(first_db, iid)
    assert (final.state, final.upstream_changed_at) == (State.REMOVED, at(60))
