"""Aggregates for the digest and health checks: pending counts, outbox backlog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from store.models import (
    Application,
    Installation,
    InstallationCount,
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
    """Pending installations per application, most waiting first.

    The counts are those the lifecycle keeps (a row per application); the oldest of each
    is one probe of the (state, application_id, created_at) index.
    """
    oldest = (
        select(col(Installation.created_at))
        .where(
            col(Installation.state) == State.PENDING,
            col(Installation.application_id) == col(InstallationCount.application_id),
        )
        .order_by(col(Installation.created_at))
        .limit(1)
        .correlate(InstallationCount)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Application, col(InstallationCount.count), oldest)
        .join(InstallationCount, col(InstallationCount.application_id) == Application.id)
        .where(col(InstallationCount.state) == State.PENDING, col(InstallationCount.count) > 0)
        .order_by(col(InstallationCount.count).desc(), Application.name)
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


@dataclass(frozen=True)
class MetricGauges:
    """What a metrics scrape reads from the database (bot/metrics.py)."""

    # (kind, undelivered items, oldest created_at)
    outbox: list[tuple[str, int, datetime | None]]
    # (application id, state, count): the kept counts, not a count of installations
    installations: list[tuple[str, str, int]]
    # "token" or "channel": refusals standing
    refusals: dict[str, int]
    last_reconcile: dict[str, Any] | None


def metric_gauges(session: Session) -> MetricGauges:
    """Outbox depth and oldest age by kind, installations by application and state, Slack's
    standing refusals and the last reconcile: grouped reads of the undelivered rows (the
    done_at index), the kept counts and two small tables."""
    from store import refusals
    from store.reconcile import last_run as reconcile_record

    to_utc = UTCDateTime().process_result_value
    outbox = [
        (str(kind), int(n), to_utc(first, None))
        for kind, n, first in session.execute(
            select(col(OutboxItem.kind), func.count(), func.min(col(OutboxItem.created_at)))
            .where(col(OutboxItem.done_at).is_(None))
            .group_by(col(OutboxItem.kind))
        ).all()
    ]
    installations = [
        (str(app), str(state), int(n))
        for app, state, n in session.execute(
            select(
                col(InstallationCount.application_id),
                col(InstallationCount.state),
                col(InstallationCount.count),
            )
        ).all()
    ]
    standing: dict[str, int] = {"token": 0, "channel": 0}
    for refused in refusals.active(session):
        standing["channel" if refusals.channel_of(refused.target) else "token"] += 1
    return MetricGauges(outbox, installations, standing, reconcile_record.last_run(session))
