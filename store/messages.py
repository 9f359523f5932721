"""Bookkeeping of each installation's Slack message: where it is, or why there is none."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlmodel import Session, col

from store.models import Application, Installation, MessageStatus, OutboxItem, OutboxKind
from store.outbox import CLAIM_SECONDS, enqueue_message


def route(
    message_channel: str | None, app_channel: str | None, default_channel: str | None
) -> str | None:
    """Where an installation's message goes: the channel it is already in (or was queued
    for), else its application's channel, else SIMSID_DEFAULT_CHANNEL."""
    return message_channel or app_channel or default_channel


def refresh(
    session: Session, installation_id: int, *, default_channel: str | None, now: datetime
) -> bool:
    """Queue the installation's message to show its state now: edited where it is, posted
    where it is not yet. Nothing when it deliberately has none (covered by a burst
    summary, or imported silently). Refreshes of one message coalesce into one edit.

    The one rule every change, refusal, retry and upstream try refreshes by.
    """
    inst = session.get(Installation, installation_id)
    if inst is None or inst.message_status not in (MessageStatus.UNSENT, MessageStatus.POSTED):
        return False
    channel = inst.message_channel
    if channel is None:
        app = session.get(Application, inst.application_id)
        channel = route(None, app.channel if app else None, default_channel)
    enqueue_message(session, installation_id, channel, now=now)
    return True


def record_posted(session: Session, installation_id: int, *, channel: str, ts: str) -> None:
    """The message is in Slack: later changes edit it in place."""
    session.execute(
        update(Installation)
        .where(col(Installation.id) == installation_id)
        .values(message_channel=channel, message_ts=ts, message_status=MessageStatus.POSTED)
    )


def forget_message(session: Session, installation_id: int) -> None:
    """Slack no longer has the message (deleted): the next refresh posts a new one."""
    session.execute(
        update(Installation)
        .where(col(Installation.id) == installation_id)
        .values(message_ts=None, message_status=MessageStatus.UNSENT)
    )


@dataclass(frozen=True)
class Backlogged:
    outbox_id: int
    installation_id: int
    application_id: str


def claim_unposted(
    session: Session, channel: str, *, worker: str, now: datetime, limit: int = 5000
) -> list[Backlogged]:
    """Claim every due first-post in a channel, to be covered by one summary."""
    rows = session.execute(
        select(col(OutboxItem.id), col(Installation.id), col(Installation.application_id))
        .join(Installation, col(Installation.id) == col(OutboxItem.installation_id))
        .where(
            col(OutboxItem.kind) == OutboxKind.MESSAGE,
            col(OutboxItem.channel) == channel,
            col(OutboxItem.done_at).is_(None),
            # Rows this worker already holds (its current batch) are covered too.
            or_(
                col(OutboxItem.claimed_until).is_(None),
                col(OutboxItem.claimed_until) < now,
                col(OutboxItem.claimed_by) == worker,
            ),
            col(Installation.message_status) == MessageStatus.UNSENT,
        )
        .order_by(col(OutboxItem.id))
        .limit(limit)
    ).all()
    if not rows:
        return []
    until = now + timedelta(seconds=CLAIM_SECONDS)
    ids = [r[0] for r in rows]
    session.execute(
        update(OutboxItem)
        .where(
            col(OutboxItem.id).in_(ids),
            or_(
                col(OutboxItem.claimed_until).is_(None),
                col(OutboxItem.claimed_until) < now,
                col(OutboxItem.claimed_by) == worker,
            ),
        )
        .values(claimed_by=worker, claimed_until=until)
    )
    won = set(
        session.scalars(
            select(col(OutboxItem.id)).where(
                col(OutboxItem.id).in_(ids),
                col(OutboxItem.claimed_by) == worker,
                col(OutboxItem.claimed_until) == until,
            )
        )
    )
    return [Backlogged(o, i, a) for o, i, a in rows if o in won]


def mark_summarised(session: Session, items: list[Backlogged], *, now: datetime) -> None:
    """These installations are covered by a summary: no message of their own."""
    if not items:
        return
    session.execute(
        update(Installation)
        .where(col(Installation.id).in_([i.installation_id for i in items]))
        .values(message_status=MessageStatus.SUMMARISED)
    )
    session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.id).in_([i.outbox_id for i in items]))
        .values(done_at=now, dedupe_key=None, claimed_until=None)
    )


def release_claims(session: Session, items: list[Backlogged]) -> None:
    if items:
        session.execute(
            update(OutboxItem)
            .where(col(OutboxItem.id).in_([i.outbox_id for i in items]))
            .values(claimed_until=None)
        )


def message_status(session: Session, installation_id: int) -> MessageStatus | None:
    value = session.scalar(
        select(col(Installation.message_status)).where(col(Installation.id) == installation_id)
    )
    return None if value is None else MessageStatus(value)
