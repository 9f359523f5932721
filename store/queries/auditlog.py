"""The audit log of an application or one of its installations."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from store.models import (
    Application,
    AuditEntry,
    Installation,
    Site,
)
from store.queries.results import (
    AuditLine,
    Page,
    _page,
)


def audit(
    session: Session,
    *,
    app_id: str,
    site_id: str | None = None,
    offset: int = 0,
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
    rows = session.execute(
        query.order_by(AuditEntry.id.desc()).offset(offset).limit(limit + 1)  # type: ignore[union-attr]
    ).all()
    return _page(
        [
            AuditLine(e.id or 0, e.at, e.actor, e.action, e.from_state, e.to_state, e.detail, a, s)
            for e, a, s in rows
        ],
        offset,
        limit,
    )
