"""Pruning what only has to be kept for a while: processed event ids, finished
delivery rows, old job claims and cached emails. The audit log is never pruned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlmodel import Session, col

from store.models import JobClaim, OutboxItem, OutboxKind, ProcessedEvent, UserEmail

# Rows deleted per statement: a prune after a long gap must not hold a lock for long.
BATCH = 2000


@dataclass(frozen=True)
class Pruned:
    events: int
    deliveries: int
    claims: int = 0
    emails: int = 0


def _latest_upstream_ids() -> Select[int | None]:
    # The latest decision of each installation tells its message "applied upstream";
    # kept however old, so a later refresh of the message still says so.
    return (
        select(func.max(col(OutboxItem.id)))
        .where(col(OutboxItem.kind) == OutboxKind.UPSTREAM)
        .where(col(OutboxItem.installation_id).is_not(None))
        .group_by(col(OutboxItem.installation_id))
    )


def _delete_older(
    session: Session, key: Any, stamp: Any, before: datetime, limit: int, *also: Any
) -> int:
    """Delete up to `limit` rows whose `stamp` is before `before` and that meet `also`;
    how many. Small batches: a prune after a long gap must not hold a lock for long."""
    keys = session.scalars(select(key).where(stamp < before, *also).limit(limit)).all()
    if keys:
        session.execute(delete(key.table).where(key.in_(keys)))
    return len(keys)


def prune_events(session: Session, *, before: datetime, limit: int = BATCH) -> int:
    """Delete up to `limit` processed event ids received before `before`; how many.

    A resent event older than this is stopped by the webhook's 300 s signature window
    and by occurred_at ordering, not by its id."""
    return _delete_older(
        session, col(ProcessedEvent.id), col(ProcessedEvent.received_at), before, limit
    )


def prune_deliveries(session: Session, *, before: datetime, limit: int = BATCH) -> int:
    """Delete up to `limit` outbox rows finished before `before`; how many."""
    return _delete_older(
        session,
        col(OutboxItem.id),
        col(OutboxItem.done_at),
        before,
        limit,
        col(OutboxItem.done_at).is_not(None),
        col(OutboxItem.id).not_in(_latest_upstream_ids()),
    )


def prune_claims(session: Session, *, before: datetime, limit: int = BATCH) -> int:
    """Delete up to `limit` job claims made before `before`; how many.

    A claim only has to outlive its own period: a digest period that old is never run
    again, and a reminder step that old is behind its installation's reminders_sent."""
    return _delete_older(session, col(JobClaim.key), col(JobClaim.claimed_at), before, limit)


def prune_emails(session: Session, *, before: datetime, limit: int = BATCH) -> int:
    """Delete up to `limit` cached emails last asked of Slack before `before`; how many.
    People who stopped deciding are not remembered (audit rows keep their own copy)."""
    return _delete_older(session, col(UserEmail.user_id), col(UserEmail.fetched_at), before, limit)


def cutoff(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)
