"""Registering applications (the operator's configuration, not installation state)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, delete, select

from store.lifecycle import free_slug
from store.models import Application, ApplicationApprover, utcnow
from store.queries import AppRef, app_ref


def register(
    session: Session,
    *,
    app_id: str,
    name: str,
    channel: str | None = None,
    bypass_auth: bool | None = None,
    sims_primary: bool | None = None,
) -> tuple[AppRef, bool]:
    """Add the application, or update the one with this id; (app, created)."""
    app = session.get(Application, app_id)
    created = app is None
    if app is None:
        app = Application(
            id=app_id, name=name, slug=free_slug(session, name, app_id), created_at=utcnow()
        )
    elif app.name != name:
        app.name = name
        app.slug = free_slug(session, name, app_id)
    if channel is not None:
        app.channel = channel or None
    if bypass_auth is not None:
        app.bypass_auth = bypass_auth
    if sims_primary is not None:
        app.sims_primary = sims_primary
    session.add(app)
    session.flush()
    return app_ref(app), created


def set_approvers(session: Session, app_id: str, principals: Iterable[str]) -> tuple[str, ...]:
    """Make `principals` (user and user group ids) the application's approvers, replacing
    any it had; an empty list leaves it to the global admins. The ids, sorted."""
    wanted = tuple(sorted(set(principals)))
    session.exec(
        delete(ApplicationApprover).where(col(ApplicationApprover.application_id) == app_id)
    )
    for principal in wanted:
        session.add(ApplicationApprover(application_id=app_id, principal=principal))
    session.flush()
    return wanted


def approvers(session: Session) -> dict[str, tuple[str, ...]]:
    """Each application that has approvers: its id and their ids, sorted."""
    rows = session.exec(
        select(ApplicationApprover).order_by(
            col(ApplicationApprover.application_id), col(ApplicationApprover.principal)
        )
    ).all()
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row.application_id, []).append(row.principal)
    return {app_id: tuple(ids) for app_id, ids in found.items()}


def approvers_of(session: Session, app_id: str) -> tuple[str, ...]:
    """The application's approvers (user and user group ids), sorted; () when none."""
    return tuple(
        session.exec(
            select(ApplicationApprover.principal)
            .where(col(ApplicationApprover.application_id) == app_id)
            .order_by(col(ApplicationApprover.principal))
        ).all()
    )
