"""The set-based path of `Lifecycle.apply_events` against the one-event path.

`apply_events(batch)` must leave the database exactly as `apply_event` does for each
event of the batch in turn: installation states and versions, audit rows, outbox rows,
applications, sites, credentials and processed event ids. The one-event path is the
reference. Each side gets a fresh SQLite database; autoincrement ids are replaced by
the (application, site) they stand for, and the clock stands still so that timestamps
compare too.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from store.db import Database
from store.lifecycle import EventOutcome, EventType, InstallEvent, Lifecycle
from store.models import (
    Application,
    AuditEntry,
    Credential,
    Installation,
    OutboxItem,
    ProcessedEvent,
    Site,
)
from tests.factories import BASE_TIME

APPS = ("app-a", "app-b", "app-bypass")
SITES = ("s1", "s2", "s3")
BYPASS_APP = "app-bypass"
_databases = itertools.count()

Snapshot = dict[str, list[Any]]


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


@contextmanager
def _fresh_database(template: Path, directory: Path) -> Iterator[Database]:
    path = directory / f"side-{next(_databases)}.db"
    shutil.copy(template, path)
    db = Database(f"sqlite:///{path}")
    try:
        yield db
    finally:
        db.dispose()
        path.unlink()


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


def _ordered(rows: Any) -> list[Any]:
    """Rows in a fixed order, whatever their ids were (None sorts too)."""
    return sorted(rows, key=repr)


def _snapshot(db: Database) -> Snapshot:
    """Every row the lifecycle writes, with ids replaced by what they stand for."""
    with db.read() as session:
        installs = list(session.scalars(select(Installation).order_by(Installation.id)))  # type: ignore[arg-type]
        key = {i.id: (i.application_id, i.site_id) for i in installs}

        def inst(row: Installation) -> tuple[Any, ...]:
            values = row.model_dump(exclude={"id"})
            return tuple(sorted(values.items()))

        def audit(row: AuditEntry) -> tuple[Any, ...]:
            values = row.model_dump(exclude={"id", "installation_id"})
            return (key[row.installation_id], *sorted(values.items()))

        def queued(row: OutboxItem) -> tuple[Any, ...]:
            values = row.model_dump(exclude={"id", "installation_id", "dedupe_key", "payload"})
            payload = dict(row.payload or {})
            payload.pop("id", None)  # a fresh uuid per decision
            if "client_key" in payload:  # random, as in credentials below
                payload["client_key"] = payload["client_key"] is not None
            dedupe = row.dedupe_key
            if dedupe is not None and row.installation_id is not None:
                dedupe = dedupe.replace(str(row.installation_id), "<installation>")
            return (
                key.get(row.installation_id),
                dedupe,
                sorted(payload.items()),
                *sorted(values.items()),
            )

        def credential(row: Credential) -> tuple[Any, ...]:
            # Keys and secrets are random: that one exists (and is live) is what must agree.
            return (key[row.installation_id], row.secret is not None, row.created_at)

        audit_rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))  # type: ignore[arg-type]
        outbox_rows = session.scalars(select(OutboxItem).order_by(OutboxItem.id))  # type: ignore[arg-type]
        return {
            "installations": _ordered(inst(i) for i in installs),
            "audit": [audit(a) for a in audit_rows],
            "outbox": [queued(o) for o in outbox_rows],
            "credentials": sorted(credential(c) for c in session.scalars(select(Credential))),
            "applications": _ordered(
                tuple(sorted(a.model_dump().items())) for a in session.scalars(select(Application))
            ),
            "sites": _ordered(
                tuple(sorted(s.model_dump().items())) for s in session.scalars(select(Site))
            ),
            "processed": _ordered(
                (p.id, key.get(p.installation_id), p.received_at)
                for p in session.scalars(select(ProcessedEvent))
            ),
        }


def _by_installation(rows: list[tuple[Any, ...]]) -> dict[Any, list[tuple[Any, ...]]]:
    grouped: dict[Any, list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return grouped


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=_events(prefix="seed_", min_size=0, max_size=4),
    batch=_events(prefix="evt_", min_size=1, max_size=14),
    notify=st.booleans(),
    upstream=st.booleans(),
    channel=st.sampled_from((None, "C0DEFAULT")),
)
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
    lifecycle = _lifecycle(upstream, channel)

    with _fresh_database(sqlite_template, directory) as db:
        _seed(db, lifecycle, seed, notify)
        single: list[EventOutcome] = []
        for event in batch:
            with db.session() as session:
                single.append(lifecycle.apply_event(session, event, notify=notify))
        expected = _snapshot(db)

    with _fresh_database(sqlite_template, directory) as db:
        _seed(db, lifecycle, seed, notify)
        with db.session() as session:
            bulk = lifecycle.apply_events(session, batch, notify=notify)
        actual = _snapshot(db)

    assert bulk == single
    for table in ("installations", "credentials", "applications", "sites", "processed"):
        assert actual[table] == expected[table], table
    # Per installation first: a difference there is easier to read than one in the log.
    assert _by_installation(actual["audit"]) == _by_installation(expected["audit"])
    assert actual["audit"] == expected["audit"]
    assert _by_installation(actual["outbox"]) == _by_installation(expected["outbox"])
    assert actual["outbox"] == expected["outbox"]
