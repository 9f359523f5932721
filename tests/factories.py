"""Small builders for install events and installations, seeded through the real lifecycle."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from store.db import Database
from store.lifecycle import Action, ActionResult, EventType, InstallEvent, Lifecycle, slugify
from store.models import Application, AuditEntry, Installation, OutboxItem, OutboxKind

BASE_TIME = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ADMIN = "U0ADMIN01"

_ids = itertools.count(1)


def at(minutes: float = 0) -> datetime:
    """A fixed point in time, `minutes` after BASE_TIME."""
    return BASE_TIME + timedelta(minutes=minutes)


def event(
    app: str = "app-hw",
    site: str = "s1",
    type: EventType | str = EventType.CREATED,
    at: datetime | None = None,
    id: str | None = None,
    *,
    app_name: str | None = None,
    site_name: str | None = None,
    urn: str | None = None,
    dfe: str | None = None,
) -> InstallEvent:
    """An install event; every field has a sensible default and ids are unique."""
    return InstallEvent(
        id=id or f"evt_{next(_ids):06d}",
        type=EventType(type),
        occurred_at=at or BASE_TIME,
        application_id=app,
        application_name=app_name or f"App {app}",
        site_id=site,
        site_name=site_name or f"School {site}",
        site_urn=urn,
        site_dfe_number=dfe,
    )


def install(
    db: Database,
    lifecycle: Lifecycle | None = None,
    *,
    app: str = "app-hw",
    site: str = "s1",
    at: datetime | None = None,
    notify: bool = True,
    app_name: str | None = None,
    site_name: str | None = None,
    urn: str | None = None,
    dfe: str | None = None,
) -> int:
    """Apply an installation.created event and return the installation's id."""
    lifecycle = lifecycle or Lifecycle()
    evt = event(
        app, site, EventType.CREATED, at, app_name=app_name, site_name=site_name, urn=urn, dfe=dfe
    )
    with db.session() as session:
        lifecycle.apply_event(session, evt, notify=notify)
    return installation_id(db, app, site)


def install_many(
    db: Database, lifecycle: Lifecycle | None = None, *, sites: list[tuple[str, str]]
) -> None:
    """Apply an installation.created event per (app, site), all in one unit of work."""
    lifecycle = lifecycle or Lifecycle()
    with db.session() as session:
        for app, site in sites:
            lifecycle.apply_event(session, event(app, site, EventType.CREATED))


def installation_id(db: Database, app: str = "app-hw", site: str = "s1") -> int:
    with db.read() as session:
        found = session.scalar(
            select(Installation.id).where(
                Installation.application_id == app, Installation.site_id == site
            )
        )
    assert found is not None, f"no installation for {app}/{site}"
    return int(found)


def act(
    db: Database,
    installation: int,
    action: Action,
    *,
    lifecycle: Lifecycle | None = None,
    actor: str = ADMIN,
    expected_version: int | None = None,
) -> ActionResult:
    """One action in its own unit of work; returns the ActionResult."""
    lifecycle = lifecycle or Lifecycle()
    with db.session() as session:
        return lifecycle.act(
            session,
            installation_id=installation,
            action=action,
            actor=actor,
            expected_version=expected_version,
        )


def set_bypass(db: Database, app: str, bypass: bool = True) -> None:
    """Mark an application as bypassing authentication (as `apps add --bypass-auth` would)."""
    with db.session() as session:
        application = session.get(Application, app)
        assert application is not None
        application.bypass_auth = bypass
        session.add(application)


def register_app(db: Database, app: str, name: str, *, bypass: bool = False) -> None:
    """Register an application directly (the `apps add` command's effect)."""
    with db.session() as session:
        session.add(Application(id=app, name=name, slug=slugify(name), bypass_auth=bypass))


def get(db: Database, installation: int) -> Installation:
    with db.read() as session:
        inst = session.get(Installation, installation)
        assert inst is not None
        session.expunge(inst)
        return inst


def audit_rows(db: Database, installation: int) -> list[AuditEntry]:
    with db.read() as session:
        rows = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.installation_id == installation)
                .order_by(AuditEntry.id)  # type: ignore[arg-type]
            )
        )
        for row in rows:
            session.expunge(row)
        return rows


def outbox_rows(
    db: Database, installation: int | None = None, kind: OutboxKind | None = None
) -> list[OutboxItem]:
    with db.read() as session:
        query = select(OutboxItem).order_by(OutboxItem.id)  # type: ignore[arg-type]
        if installation is not None:
            query = query.where(OutboxItem.installation_id == installation)
        if kind is not None:
            query = query.where(OutboxItem.kind == kind)
        rows = list(session.scalars(query))
        for row in rows:
            session.expunge(row)
        return rows


def kept_open(request: pytest.FixtureRequest) -> Iterator[None]:
    """For tests on the `db_url` fixture: hold one idle SQLite connection open meanwhile.

    SQLite checkpoints the write-ahead log whenever its last connection closes, and every
    unit of work closes its connection (NullPool), so without this each one pays for a
    checkpoint. A running bot has other connections open too. Use as an autouse fixture:
    `_kept_open = pytest.fixture(autouse=True)(kept_open)`.
    """
    if "db_url" not in request.fixturenames:
        yield
        return
    url = str(request.getfixturevalue("db_url"))
    if not url.startswith("sqlite"):
        yield
        return
    holder = sqlite3.connect(make_url(url).database or "")
    holder.execute("SELECT count(*) FROM sqlite_master").fetchall()
    try:
        yield
    finally:
        holder.close()
