"""The set-based path of `Lifecycle.apply_events` against the one-event path.

`apply_events(batch)` must leave the database exactly as `apply_event` does for each
event of the batch in turn: installation states and versions, audit rows, outbox rows,
applications, sites, credentials and processed event ids. The one-event path is the
reference. Each side gets a fresh database (SQLite, and PostgreSQL when it runs);
autoincrement ids are replaced by the (application, site) they stand for, and the clock
stands still so that timestamps compare too.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.db import Database
from store.lifecycle import EventResult, EventType, InstallEvent, Lifecycle
from store.models import (
    Application,
)
from tests.factories import BASE_TIME
from tests.lifecycle_snapshot import by_installation, fresh_postgres, fresh_sqlite, snapshot

APPS = ("app-a", "app-b", "app-bypass")
SITES = ("s1", "s2", "s3")
BYPASS_APP = "app-bypass"


@st.composite
def _events(draw: st.DrawFn, *, prefix: str, min_size: int, max_size: int) -> list[InstallEvent]:
    """Install events over a few apps and sites: shuffled occurred_at (ties included),
    changing site labels, and exact resends of earlier events (duplicate ids)."""
    count = draw(st.integers(min_size, max_size))
    events: list[InstallEvent] = []
    for n in range(count):
        if events and draw(st.integers(0, 5)) == 0:
            events.append(draw(st.sampled_from(events)))
            continue
        app = draw(st.sampled_from(APPS))
        site = draw(st.sampled_from(SITES))
        events.append(
            InstallEvent(
                id=f"{prefix}{n}",
                type=draw(st.sampled_from(list(EventType))),
                occurred_at=BASE_TIME + timedelta(minutes=draw(st.integers(0, 6))),
                application_id=app,
                application_name=draw(st.sampled_from((f"App {app}", f"Renamed {app}"))),
                site_id=site,
                site_name=draw(st.sampled_from((f"School {site}", f"Academy {site}"))),
                site_urn=draw(st.sampled_from((None, f"1{site[1:]}"))),
                site_dfe_number=draw(st.sampled_from((None, f"999/{site[1:]}"))),
            )
        )
    return events


FROZEN = BASE_TIME + timedelta(hours=1)


def _lifecycle(upstream: bool, channel: str | None) -> Lifecycle:
    frozen = FROZEN
    return Lifecycle(upstream=upstream, default_channel=channel, clock=lambda: frozen)


def _seed(db: Database, lifecycle: Lifecycle, events: list[InstallEvent], notify: bool) -> None:
    """What both sides hold before the batch: a bypass app and some events, one at a time."""
    with db.session() as session:
        session.add(
            Application(
                id=BYPASS_APP,
                name="Bypass App",
                slug="bypass-app",
                bypass_auth=True,
                created_at=FROZEN,
            )
        )
    for event in events:
        with db.session() as session:
            lifecycle.apply_event(session, event, notify=notify)


_GIVEN = given(
    seed=_events(prefix="seed_", min_size=0, max_size=4),
    batch=_events(prefix="evt_", min_size=1, max_size=14),
    notify=st.booleans(),
    upstream=st.booleans(),
    channel=st.sampled_from((None, "C0DEFAULT")),
)
_SLOW_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=100, deadline=None, suppress_health_check=_SLOW_OK)
@_GIVEN
def test_apply_events_ends_as_apply_event_one_by_one(
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    seed: list[InstallEvent],
    batch: list[InstallEvent],
    notify: bool,
    upstream: bool,
    channel: str | None,
) -> None:
    directory = tmp_path_factory.getbasetemp()
    _check(lambda: fresh_sqlite(sqlite_template, directory), seed, batch, notify, upstream, channel)


@pytest.mark.postgres
@settings(max_examples=25, deadline=None, suppress_health_check=_SLOW_OK)
@_GIVEN
def test_apply_events_ends_as_apply_event_one_by_one_on_postgresql(
    postgres_schema: str,
    seed: list[InstallEvent],
    batch: list[InstallEvent],
    notify: bool,
    upstream: bool,
    channel: str | None,
) -> None:
    _check(lambda: fresh_postgres(postgres_schema), seed, batch, notify, upstream, channel)


def _check(
    fresh: Callable[[], AbstractContextManager[Database]],
    seed: list[InstallEvent],
    batch: list[InstallEvent],
    notify: bool,
    upstream: bool,
    channel: str | None,
) -> None:
    lifecycle = _lifecycle(upstream, channel)

    with fresh() as db:
        _seed(db, lifecycle, seed, notify)
        single: list[EventResult] = []
        for event in batch:
            with db.session() as session:
                single.append(lifecycle.apply_event(session, event, notify=notify))
        expected = snapshot(db)

    with fresh() as db:
        _seed(db, lifecycle, seed, notify)
        with db.session() as session:
            bulk = lifecycle.apply_events(session, batch, notify=notify)
        actual = snapshot(db)

    assert bulk == single
    for table in ("installations", "credentials", "applications", "sites", "processed"):
        assert actual[table] == expected[table], table
    # Per installation first: a difference there is easier to read than one in the log.
    assert by_installation(actual["audit"]) == by_installation(expected["audit"])
    assert actual["audit"] == expected["audit"]
    assert by_installation(actual["outbox"]) == by_installation(expected["outbox"])
    assert actual["outbox"] == expected["outbox"]
