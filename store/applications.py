"""Registering applications (the operator's configuration, not installation state)."""

from __future__ import annotations

from sqlmodel import Session

from store.lifecycle import free_slug
from store.models import Application, utcnow
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
