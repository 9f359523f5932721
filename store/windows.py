"""Maintenance windows: a Disable with an end, after which the bot enables again.

A window belongs to the Disable that opened it: it remembers the installation's version
right after that Disable. At the end it enables the installation only if the version is
still that one, so nothing anyone did since (a re-disable, an Enable, a removal, SIMS
ID's report) is undone. Ending is a conditional UPDATE of the window's row (closed_at
from NULL): of any number of processes, one ends each window. The change itself is the
lifecycle's ordinary Enable, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlmodel import Session, col

from store import messages, outbox
from store.lifecycle import Action, Lifecycle
from store.lifecycle.domain import WINDOW_ACTOR_PREFIX
from store.models import (
    Application,
    Installation,
    MaintenanceWindow,
    OutboxKind,
    Site,
    State,
)
from store.sqlutil import rowcount


def window_actor(created_by: str) -> str:
    """The actor of a window's Enable: "maintenance window by <@U…>"."""
    return f"{WINDOW_ACTOR_PREFIX}<@{created_by}>"


@dataclass(frozen=True)
class Window:
    """An open window: which installation, when it ends, and the version its Disable left."""

    id: int
    installation_id: int
    ends_at: datetime
    disabled_version: int
    created_by: str


@dataclass(frozen=True)
class Ending:
    """A live window for the digest: which installation, and when it ends."""

    installation_id: int
    app_name: str
    site_name: str
    ends_at: datetime


def _open() -> ColumnElement[bool]:
    return col(MaintenanceWindow.closed_at).is_(None)


def _live() -> ColumnElement[bool]:
    """Open, and the installation still as that window's Disable left it."""
    return and_(
        col(MaintenanceWindow.closed_at).is_(None),
        col(Installation.state) == State.DISABLED,
        col(Installation.version) == col(MaintenanceWindow.disabled_version),
    )


def open_window(
    session: Session,
    *,
    installation_id: int,
    version: int,
    ends_at: datetime,
    by: str,
    now: datetime,
) -> None:
    """Open a window for the Disable that left the installation at `version`; an older
    open window of the installation is closed as replaced."""
    session.execute(
        update(MaintenanceWindow)
        .where(col(MaintenanceWindow.installation_id) == installation_id, _open())
        .values(closed_at=now, closed_reason="replaced")
    )
    session.add(
        MaintenanceWindow(
            installation_id=installation_id,
            ends_at=ends_at,
            disabled_version=version,
            created_by=by,
            created_at=now,
        )
    )
    session.flush()


def close_changed(session: Session, installation_id: int, version: int, now: datetime) -> None:
    """Close the installation's open window if a change since its Disable (now at
    `version`) made it void: Enable now ends the window early."""
    session.execute(
        update(MaintenanceWindow)
        .where(
            col(MaintenanceWindow.installation_id) == installation_id,
            col(MaintenanceWindow.disabled_version) != version,
            _open(),
        )
        .values(closed_at=now, closed_reason="changed")
    )


def extend(session: Session, *, installation_id: int, version: int, ends_at: datetime) -> bool:
    """Move the end of the installation's live window; False when it has none at `version`."""
    result = session.execute(
        update(MaintenanceWindow)
        .where(
            col(MaintenanceWindow.installation_id) == installation_id,
            col(MaintenanceWindow.disabled_version) == version,
            _open(),
        )
        .values(ends_at=ends_at)
    )
    return rowcount(result) == 1


def disabled_until(session: Session, installation_id: int) -> datetime | None:
    """When the installation's live window ends; None without one."""
    found: datetime | None = session.execute(
        select(col(MaintenanceWindow.ends_at))
        .join(Installation, col(Installation.id) == col(MaintenanceWindow.installation_id))
        .where(col(MaintenanceWindow.installation_id) == installation_id, _live())
        .limit(1)
    ).scalar()
    return found


def due(session: Session, *, now: datetime, limit: int = 500) -> list[Window]:
    """Open windows whose end has come, earliest first."""
    rows = session.scalars(
        select(MaintenanceWindow)
        .where(_open(), col(MaintenanceWindow.ends_at) <= now)
        .order_by(col(MaintenanceWindow.ends_at), col(MaintenanceWindow.id))
        .limit(limit)
    ).all()
    return [
        Window(w.id or 0, w.installation_id, w.ends_at, w.disabled_version, w.created_by)
        for w in rows
    ]


def ending_between(
    session: Session, start: datetime, end: datetime, *, limit: int = 20
) -> tuple[list[Ending], int]:
    """Live windows ending in [start, end), soonest first (up to `limit`), and how many."""
    where = (
        _live(),
        col(MaintenanceWindow.ends_at) >= start,
        col(MaintenanceWindow.ends_at) < end,
    )
    base = select(MaintenanceWindow).join(
        Installation, col(Installation.id) == col(MaintenanceWindow.installation_id)
    )
    total = session.execute(
        select(func.count())
        .select_from(MaintenanceWindow)
        .join(Installation, col(Installation.id) == col(MaintenanceWindow.installation_id))
        .where(*where)
    ).scalar()
    rows = session.execute(
        base.with_only_columns(
            col(Installation.id),
            col(Application.name),
            col(Site.name),
            col(MaintenanceWindow.ends_at),
        )
        .join(Application, col(Application.id) == col(Installation.application_id))
        .join(Site, col(Site.id) == col(Installation.site_id))
        .where(*where)
        .order_by(col(MaintenanceWindow.ends_at), col(Installation.id))
        .limit(limit)
    ).all()
    return [Ending(int(i), a, s, e) for i, a, s, e in rows], int(total or 0)


@dataclass(frozen=True)
class Ended:
    """What ending one window did: `enabled` when the installation was enabled by it."""

    window: Window
    enabled: bool
    channel: str | None


def end(session: Session, lifecycle: Lifecycle, window: Window, *, now: datetime) -> Ended | None:
    """End one due window, once across processes; None when another process ended it.

    Enabled through the lifecycle's Enable (message refreshed, decision upstream) only
    when the installation is still at the window's version; the channel is told.
    """
    claimed = session.execute(
        update(MaintenanceWindow)
        .where(col(MaintenanceWindow.id) == window.id, _open())
        .values(closed_at=now, closed_reason="ended")
    )
    if rowcount(claimed) != 1:
        return None
    inst = session.get(Installation, window.installation_id, populate_existing=True)
    applied = False
    if (
        inst is not None
        and inst.state is State.DISABLED
        and inst.version == window.disabled_version
    ):
        applied = lifecycle.act(
            session,
            installation_id=window.installation_id,
            action=Action.ENABLE,
            actor=window_actor(window.created_by),
            expected_version=window.disabled_version,
        ).applied
    if not applied:
        session.execute(
            update(MaintenanceWindow)
            .where(col(MaintenanceWindow.id) == window.id)
            .values(closed_reason="changed")
        )
        return Ended(window, False, None)
    assert inst is not None
    app = session.get(Application, inst.application_id)
    channel = messages.route(
        inst.message_channel, app.channel if app else None, lifecycle.default_channel
    )
    if channel:
        site = session.get(Site, inst.site_id)
        outbox.enqueue(
            session,
            OutboxKind.NOTICE,
            now=now,
            channel=channel,
            payload={
                "notice": "window_ended",
                "installation_id": inst.id,
                "application": app.name if app else inst.application_id,
                "site": site.name if site else inst.site_id,
                "created_by": window.created_by,
            },
        )
    return Ended(window, True, channel)
