"""The audit log of an application or one of its installations, and the latest
decisions across all of them (the Home tab)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select, text
from sqlmodel import Session, col

from store.models import (
    DECISIONS_SQL,
    Application,
    AuditEntry,
    Installation,
    Site,
)
from store.queries.paging import fetch, page, seek
from store.queries.results import (
    AuditLine,
    Cursor,
    Page,
)


def audit(
    session: Session,
    *,
    app_id: str,
    site_id: str | None = None,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = 20,
) -> Page[AuditLine]:
    """The latest audit entries for an application, or one of its installations."""
    query = (
        select(AuditEntry, col(Application.name), col(Site.name))
        .join(Installation, col(Installation.id) == col(AuditEntry.installation_id))
        .join(Application, col(Application.id) == col(Installation.application_id))
        .join(Site, col(Site.id) == col(Installation.site_id))
        .where(col(Installation.application_id) == app_id)
    )
    if site_id is not None:
        query = query.where(col(Installation.site_id) == site_id)
    newest_first = seek(query, col(AuditEntry.id), col(AuditEntry.id), descending=True)
    rows, more, previous = fetch(
        session, newest_first, {}, after=after, before=before, limit=limit, entities=True
    )
    return page(
        [_line(e, a, s) for e, a, s in rows],
        [(e.id or 0, e.id or 0) for e, _, _ in rows],
        limit,
        more,
        previous,
    )


def _line(e: AuditEntry, app_name: str, site_name: str) -> AuditLine:
    return AuditLine(
        e.id or 0,
        e.at,
        e.actor,
        e.action,
        e.from_state,
        e.to_state,
        e.detail,
        app_name,
        site_name,
        e.reason,
        e.actor_email,
    )


def latest_decisions(
    session: Session, *, limit: int = 10, only: Collection[str] | None = None
) -> list[AuditLine]:
    """The latest decisions across every application (with `only`, those applications),
    newest first."""
    statement = select(AuditEntry, col(Application.name), col(Site.name))
    if only is not None:
        statement = statement.where(col(Installation.application_id).in_(list(only)))
    rows = session.execute(
        statement.join(Installation, col(Installation.id) == col(AuditEntry.installation_id))
        .join(Application, col(Application.id) == col(Installation.application_id))
        .join(Site, col(Site.id) == col(Installation.site_id))
        # Spelt as the partial index ix_audit_decisions is, so that it is used.
        .where(text(DECISIONS_SQL))
        .order_by(col(AuditEntry.id).desc())
        .limit(limit)
    ).all()
    return [_line(e, a, s) for e, a, s in rows]
