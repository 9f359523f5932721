"""Decisions going upstream, as the operator sees them: what waits, what failed, retrying.

Upstream decisions are outbox rows of kind UPSTREAM whose payload is the event exactly as
it is sent; this module reads them back for `simsid-bot outbox` and resets one for a
retry. It knows nothing of Slack or HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlmodel import Session, col

from store import messages, outbox
from store.models import OutboxItem, OutboxKind, UTCDateTime, utcnow


class DecisionStatus(StrEnum):
    WAITING = "waiting"  # not delivered yet; tried again at due_at
    SENDING = "sending"  # a delivery loop holds it right now
    FAILED = "failed"  # the receiver refused it; given up until an admin retries
    APPLIED = "applied"  # the receiver answered 2xx


@dataclass(frozen=True)
class Decision:
    """One decision for the upstream receiver, with where its delivery stands."""

    id: int  # the outbox row: what `outbox --retry ID` and the Retry button name
    event_id: str  # the payload's "id", the receiver's idempotency key
    installation_id: int | None
    type: str
    application_id: str
    application_name: str
    site_id: str
    site_name: str
    status: DecisionStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    due_at: datetime
    # The newer decision for the same installation, if any: a failed decision that has
    # one is superseded (resending it would reach the receiver out of order).
    newer_id: int | None = None
    # An older undelivered decision of the same installation that must go first.
    behind_id: int | None = None


@dataclass(frozen=True)
class Outstanding:
    """Decisions not applied upstream, oldest first, and how many there are in all."""

    decisions: tuple[Decision, ...]
    total: int


def _status(row: OutboxItem, now: datetime) -> DecisionStatus:
    if row.failed:
        return DecisionStatus.FAILED
    if row.done_at is not None:
        return DecisionStatus.APPLIED
    if row.claimed_until is not None and row.claimed_until >= now:
        return DecisionStatus.SENDING
    return DecisionStatus.WAITING


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _decision(
    row: OutboxItem, now: datetime, *, newer_id: int | None = None, behind_id: int | None = None
) -> Decision:
    assert row.id is not None
    payload = row.payload or {}
    app = payload.get("application") or {}
    site = payload.get("site") or {}
    return Decision(
        id=row.id,
        event_id=_text(payload.get("id")),
        installation_id=row.installation_id,
        type=_text(payload.get("type")),
        application_id=_text(app.get("id")),
        application_name=_text(app.get("name")),
        site_id=_text(site.get("id")),
        site_name=_text(site.get("name")),
        status=_status(row, now),
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        due_at=row.due_at,
        newer_id=newer_id,
        behind_id=behind_id,
    )


def refused(session: Session) -> tuple[int, datetime | None]:
    """How many decisions upstream refused for good that no later one has superseded (a
    person must Retry them), and when the oldest of them was made."""
    count, oldest = session.execute(
        select(func.count(), func.min(col(OutboxItem.created_at))).where(
            col(OutboxItem.kind) == OutboxKind.UPSTREAM,
            col(OutboxItem.failed),  # as ix_outbox_failed's condition, so the index answers
            ~outbox.superseded(),
        )
    ).one()
    return int(count), None if oldest is None else UTCDateTime().process_result_value(oldest, None)


def _outstanding_condition() -> ColumnElement[bool]:
    """Undelivered decisions, and failed ones still the latest of their installation."""
    return and_(
        col(OutboxItem.kind) == OutboxKind.UPSTREAM,
        or_(
            col(OutboxItem.done_at).is_(None),
            and_(col(OutboxItem.failed).is_(True), ~outbox.superseded()),
        ),
    )


def outstanding(session: Session, *, now: datetime | None = None, limit: int = 200) -> Outstanding:
    """What has not reached the receiver: waiting, being sent, or failed; oldest first.

    A failed decision that a newer one has superseded is left out: the receiver already
    has the installation's later state, so there is nothing left to do about it.
    """
    now = now or utcnow()
    condition = _outstanding_condition()
    total = int(session.scalar(select(func.count()).select_from(OutboxItem).where(condition)) or 0)
    rows = session.scalars(
        select(OutboxItem).where(condition).order_by(col(OutboxItem.id)).limit(limit)
    ).all()
    # Oldest first, so an installation's first undelivered decision is seen before the
    # ones queued behind it (claim_due sends them in that order).
    first_undelivered: dict[int | None, int] = {}
    found = []
    for row in rows:
        assert row.id is not None
        behind_id = first_undelivered.get(row.installation_id) if not row.failed else None
        if row.done_at is None:
            first_undelivered.setdefault(row.installation_id, row.id)
        found.append(_decision(row, now, behind_id=behind_id))
    return Outstanding(tuple(found), total)


def get(session: Session, decision_id: int, *, now: datetime | None = None) -> Decision | None:
    """One decision by its outbox id, with the neighbours that decide whether it may go."""
    now = now or utcnow()
    row = session.get(OutboxItem, decision_id, populate_existing=True)
    if row is None or row.kind is not OutboxKind.UPSTREAM:
        return None
    same_installation = and_(
        col(OutboxItem.kind) == OutboxKind.UPSTREAM,
        col(OutboxItem.installation_id) == row.installation_id,
    )
    newer_id = session.scalar(
        select(func.max(col(OutboxItem.id))).where(
            same_installation, col(OutboxItem.id) > decision_id
        )
    )
    behind_id = session.scalar(
        select(func.min(col(OutboxItem.id))).where(
            same_installation,
            col(OutboxItem.id) < decision_id,
            col(OutboxItem.done_at).is_(None),
        )
    )
    return _decision(row, now, newer_id=newer_id, behind_id=behind_id)


def retry(
    session: Session,
    decision_id: int,
    *,
    now: datetime | None = None,
    default_channel: str | None = None,
) -> bool:
    """Make a failed or waiting decision due now, from its first try; False if it cannot be.

    It cannot be when it was applied, is being sent this moment, or failed and has been
    superseded (see `store.outbox.retry_now`). The installation's message is refreshed so
    it stops showing the failure and its Retry button. The one way to retry a decision,
    from the Retry button and from `simsid-bot outbox --retry`.
    """
    now = now or utcnow()
    if not outbox.retry_now(session, decision_id, now=now):
        return False
    installation_id = outbox.installation_of(session, decision_id)
    if installation_id is not None:
        messages.refresh(session, installation_id, default_channel=default_channel, now=now)
    return True
