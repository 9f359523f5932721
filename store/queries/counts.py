"""Aggregates for the digest and health checks: pending counts, outbox backlog."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from store.models import (
    Application,
    Installation,
    OutboxItem,
    OutboxKind,
    State,
    UTCDateTime,
    utcnow,
)
from store.queries.results import (
    PendingCount,
    app_ref,
)


def pending_counts(session: Session) -> list[PendingCount]:
    """Pending installations per application, aggregated in SQL; most waiting first."""
    counted = (
        select(
            col(Installation.application_id),
            func.count().label("n"),
            func.min(col(Installation.created_at)).label("oldest"),
        )
        .where(col(Installation.state) == State.PENDING)
        .group_by(col(Installation.application_id))
        .subquery()
    )
    rows = session.execute(
        select(Application, counted.c.n, counted.c.oldest)
        .join(counted, counted.c.application_id == Application.id)
        .order_by(counted.c.n.desc(), Application.name)
    ).all()
    to_utc = UTCDateTime().process_result_value
    return [
        PendingCount(app_ref(app), int(n), to_utc(oldest, None) or utcnow())
        for app, n, oldest in rows
    ]


def oldest_undelivered(session: Session, kind: OutboxKind) -> datetime | None:
    """When the oldest not-yet-delivered item of this kind was created (for /healthz)."""
    value = session.execute(
        select(func.min(col(OutboxItem.created_at))).where(
            col(OutboxItem.kind) == kind,
            col(OutboxItem.done_at).is_(None),
        )
    ).scalar()
    if value is None:
        return None
    return UTCDateTime().process_result_value(value, None)


def unposted_backlog(session: Session, channel: str) -> int:
    """How many installations in a channel still wait for their first message."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(OutboxItem)
            .join(Installation, col(Installation.id) == col(OutboxItem.installation_id))
            .where(
                col(OutboxItem.kind) == OutboxKind.MESSAGE,
                col(OutboxItem.channel) == channel,
                col(OutboxItem.done_at).is_(None),
                col(Installation.message_ts).is_(None),
            )
        )
        or 0
    )
