"""The installation counts kept by the lifecycle equal a full recount, whatever happens.

Random sequences of one-event applies, batches (the set-based path), Slack actions (stale
and illegal ones too), two-person removals, reconciliations with SIMS ID's list, several
lifecycle calls in one transaction and transactions that roll back, on SQLite and
PostgreSQL; then threads racing on PostgreSQL. After each step
the stored counts must equal counting the installations themselves.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import SQLModel

from store import migrate, queries
from store.db import Database, DatabaseUnavailable
from store.lifecycle import Action, ConcurrentChange, EventType, InstallEvent, Lifecycle, NotFound
from store.lifecycle.tally import counts, full_recount, recount
from store.models import Application, Installation, InstallationCount, State
from store.reconcile.apply import reconcile
from store.reconcile.compare import compare
from store.reconcile.types import Listed
from tests.factories import BASE_TIME, install
from tests.pgtools import fresh_database

APPS = ("app-a", "app-b", "app-bypass")
SITES = ("s1", "s2", "s3", "s4")
_ids = itertools.count()


def _wipe(db: Database) -> None:
    with db.session() as session:
        for table in reversed(SQLModel.metadata.sorted_tables):
            session.execute(delete(table))
        session.add(Application(id="app-bypass", name="Bypass", slug="bypass", bypass_auth=True))


def _event(app: str, site: str, kind: EventType, minute: int) -> InstallEvent:
    return InstallEvent(
        id=f"e{next(_ids)}",
        type=kind,
        occurred_at=BASE_TIME + timedelta(minutes=minute),
        application_id=app,
        application_name=f"App {app}",
        site_id=site,
        site_name=f"School {site}",
        site_urn=None,
        site_dfe_number=None,
    )


events = st.builds(
    _event,
    st.sampled_from(APPS),
    st.sampled_from(SITES),
    st.sampled_from(list(EventType)),
    st.integers(0, 8),
)
steps = st.one_of(
    st.tuples(st.just("event"), events),
    st.tuples(st.just("batch"), st.lists(events, max_size=12)),
    st.tuples(st.just("act"), st.integers(0, 20), st.sampled_from(list(Action)), st.booleans()),
    st.tuples(st.just("several"), st.lists(events, min_size=1, max_size=4), st.integers(0, 20)),
    st.tuples(st.just("rolled back"), events),
    st.tuples(st.just("two-person remove"), st.integers(0, 20), st.booleans()),
    st.tuples(
        st.just("reconcile"),
        st.dictionaries(st.tuples(st.sampled_from(APPS), st.sampled_from(SITES)), st.booleans()),
    ),
)


def _installation_ids(db: Database) -> list[tuple[int, int]]:
    with db.read() as session:
        rows = session.execute(
            select(Installation.id, Installation.version).order_by(Installation.id)
        )  # type: ignore[arg-type]
        return [(i, v) for i, v in rows]


class _Rollback(Exception):
    pass


def _run(db: Database, lifecycle: Lifecycle, step: tuple[Any, ...]) -> None:
    kind = step[0]
    if kind == "event":
        with db.session() as session:
            lifecycle.apply_event(session, step[1])
    elif kind == "batch":
        with db.session() as session:
            lifecycle.apply_events(session, step[1])
    elif kind == "act":
        _, pick, action, stale = step
        known = _installation_ids(db)
        if not known:
            return
        inst, version = known[pick % len(known)]
        with db.session() as session:
            lifecycle.act(
                session,
                installation_id=inst,
                action=action,
                actor="U0ADMIN01",
                expected_version=version - 1 if stale else version,
            )
    elif kind == "several":
        _, batch, pick = step
        known = _installation_ids(db)
        with db.session() as session:
            for one in batch:
                lifecycle.apply_event(session, one)
            if known:
                inst, _ = known[pick % len(known)]
                for action in (Action.DISABLE, Action.ENABLE, Action.APPROVE):
                    lifecycle.act(session, installation_id=inst, action=action, actor="U0X")
    elif kind == "two-person remove":
        _, pick, confirm = step
        known = _installation_ids(db)
        if not known:
            return
        inst, version = known[pick % len(known)]
        two = Lifecycle(remove_approvals=2, default_channel="C1")
        with db.session() as session:
            asked = two.act(
                session,
                installation_id=inst,
                action=Action.REMOVE,
                actor="U0ONE",
                expected_version=version,
                reason="no longer a customer",
            )
        if asked.applied:
            with db.session() as session:
                if confirm:
                    two.confirm_removal(
                        session, installation_id=inst, actor="U0TWO", expected_version=asked.version
                    )
                else:
                    two.cancel_removal(
                        session, installation_id=inst, actor="U0TWO", expected_version=asked.version
                    )
    elif kind == "reconcile":
        # SIMS ID's list: what it holds installs, enabled or not; the rest is gone.
        listed = [
            Listed(app, f"App {app}", site, f"School {site}", enabled)
            for (app, site), enabled in sorted(step[1].items())
        ]
        with db.session() as session:
            comparison = compare(session, listed)
            reconcile(lifecycle, session, comparison)
    elif kind == "rolled back":
        with pytest.raises(_Rollback), db.session() as session:
            lifecycle.apply_event(session, step[1])
            raise _Rollback
        # A call that raises leaves its changes (and their counts) to the transaction.
        with pytest.raises(NotFound), db.session() as session:
            lifecycle.apply_event(session, _event("app-a", "s1", EventType.CREATED, 9))
            lifecycle.act(session, installation_id=10**9, action=Action.APPROVE, actor="U0X")


def _assert_counts_exact(db: Database) -> None:
    with db.read() as session:
        assert counts(session) == full_recount(session)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(steps, min_size=1, max_size=12), st.booleans())
def test_counts_equal_a_full_recount_after_random_operations(
    db: Database, plan: list[tuple[Any, ...]], upstream: bool
) -> None:
    _wipe(db)
    lifecycle = Lifecycle(upstream=upstream, default_channel="C1")
    for step in plan:
        _run(db, lifecycle, step)
        _assert_counts_exact(db)


def test_the_listings_read_the_counts(db: Database) -> None:
    _wipe(db)
    lifecycle = Lifecycle(default_channel="C1")
    with db.session() as session:
        lifecycle.apply_events(
            session,
            [_event("app-a", s, EventType.CREATED, 0) for s in SITES]
            + [_event("app-b", "s1", EventType.CREATED, 0)],
        )
    first = _installation_ids(db)[0][0]
    with db.session() as session:
        lifecycle.act(session, installation_id=first, action=Action.APPROVE, actor="U0X")
    with db.read() as session:
        by_app = {
            s.app.id: (s.pending, s.enabled, s.disabled)
            for s in queries.app_summaries(session).items
        }
        pending = {c.app.id: c.count for c in queries.pending_counts(session)}
        oldest = {c.app.id: c.oldest for c in queries.pending_counts(session)}
    assert by_app == {"app-a": (3, 1, 0), "app-b": (1, 0, 0), "app-bypass": (0, 0, 0)}
    assert pending == {"app-a": 3, "app-b": 1}
    with db.read() as session:
        first_pending = session.scalars(
            select(Installation.created_at)
            .where(Installation.application_id == "app-a", Installation.state == State.PENDING)
            .order_by(Installation.created_at)  # type: ignore[arg-type]
        ).first()
    assert oldest["app-a"] == first_pending


def test_recount_rebuilds_counts_that_drifted(db: Database) -> None:
    _wipe(db)
    lifecycle = Lifecycle(default_channel="C1")
    with db.session() as session:
        lifecycle.apply_events(session, [_event("app-a", s, EventType.CREATED, 0) for s in SITES])
    with db.session() as session:
        session.execute(update(InstallationCount).values(count=999))
        session.add(InstallationCount(application_id="app-bypass", state=State.REMOVED, count=5))
    with db.read() as session:
        assert counts(session) != full_recount(session)
    with db.session() as session:
        recount(session)
    with db.read() as session:
        assert counts(session) == full_recount(session) == {("app-a", State.PENDING): 4}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Database]:
    """A database with no tables yet (PostgreSQL: a new database, dropped afterwards)."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'old.db'}")
        yield db
        db.dispose()
        return
    with fresh_database("simsid_counts", migrated=False) as url:
        db = Database(url)
        yield db
        db.dispose()


def test_upgrade_fills_the_counts_from_existing_installations(empty_db: Database) -> None:
    """A store made before the counts existed gets them from `db upgrade`."""
    db = empty_db
    migrate.upgrade(db, "0005")
    day = BASE_TIME
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO application (id, name, slug, bypass_auth, sims_primary, created_at) "
                "VALUES (:id, :id, :id, :no, :no, :day)"
            ),
            [{"id": app, "no": False, "day": day} for app in ("a", "b")],
        )
        conn.execute(
            text("INSERT INTO site (id, name, updated_at) VALUES (:id, :id, :day)"),
            [{"id": f"s{n}", "day": day} for n in range(5)],
        )
        states = ["PENDING", "PENDING", "ENABLED", "REMOVED", "DISABLED"]
        conn.execute(
            text(
                "INSERT INTO installation (application_id, site_id, state, version, created_at, "
                "changed_at, message_status, reminders_sent) "
                "VALUES (:app, :site, :state, 1, :day, :day, 'POSTED', 0)"
            ),
            [
                {"app": app, "site": f"s{n}", "state": state, "day": day}
                for n, state in enumerate(states)
                for app in ("a", "b")[: 1 + n % 2]
            ],
        )
    migrate.upgrade(db)
    with db.read() as session:
        assert counts(session) == full_recount(session)
        assert counts(session) == {
            ("a", State.PENDING): 2,
            ("a", State.ENABLED): 1,
            ("a", State.REMOVED): 1,
            ("a", State.DISABLED): 1,
            ("b", State.PENDING): 1,
            ("b", State.REMOVED): 1,
        }


@pytest.mark.postgres
def test_counts_stay_exact_under_concurrent_writers(postgres_url: str) -> None:
    """Threads racing over the same installations (lost races, stale actions, deadlock
    victims rolled back): whatever commits, the counts match."""
    db = Database(postgres_url)
    try:
        _wipe(db)
        lifecycle = Lifecycle(default_channel="C1")
        failures: list[BaseException] = []

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(25):
                try:
                    if rng.random() < 0.5:
                        batch = [
                            _event(
                                rng.choice(APPS),
                                rng.choice(SITES),
                                rng.choice(list(EventType)),
                                rng.randint(0, 8),
                            )
                            for _ in range(rng.randint(1, 6))
                        ]
                        with db.session() as session:
                            lifecycle.apply_events(session, batch)
                    else:
                        _run(
                            db,
                            lifecycle,
                            ("act", rng.randint(0, 20), rng.choice(list(Action)), False),
                        )
                except ConcurrentChange:
                    pass
                except Exception as error:  # a deadlock victim or a unique clash: rolled back
                    failures.append(error)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(isinstance(f, (DatabaseUnavailable, DBAPIError)) for f in failures), failures
        _assert_counts_exact(db)
        with db.read() as session:
            assert sum(counts(session).values()) == len(_installation_ids(db)) > 0
    finally:
        db.dispose()


def test_keeping_counts_hooks_no_session_but_the_lifecycle_s(db: Database) -> None:
    """The counts are written by the lifecycle's own calls: importing the bot adds no
    listener to SQLAlchemy's Session class, which every other session in the process
    (another library's, a test's) would run too."""
    import bot.app  # noqa: F401  (everything the bot imports)

    bare = OrmSession()
    assert len(bare.dispatch.before_commit) == 0
    assert len(bare.dispatch.after_soft_rollback) == 0
    # And the lifecycle still counts: its calls write the counts themselves.
    lifecycle = Lifecycle()
    install(db, lifecycle, site="s1")
    with db.read() as session:
        assert counts(session) == full_recount(session) == {("app-hw", State.PENDING): 1}
