"""Deciding people's emails as Slack knows them, so SIMS ID's audit can match a decision
to a personal login (docs/upstream.md, `actor_email`).

One row per Slack user, shared by every process: the lifecycle reads it when it records
a decision, and the upstream lane fills it (from users.info) for a decision recorded
before it was known. A row older than MAX_AGE is asked again. Knows nothing of Slack.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from store.actors import is_person
from store.models import AuditEntry, OutboxItem, UserEmail
from store.sqlutil import insert_or_update, rowcount

MAX_AGE = timedelta(days=1)


class Known:
    """What the cache holds for a user: the email, or None when Slack gave none."""

    __slots__ = ("email",)

    def __init__(self, email: str | None) -> None:
        self.email = email


def known(session: Session, user_id: str, *, now: datetime) -> Known | None:
    """The user's email if asked of Slack within MAX_AGE; None when it must be asked."""
    if not is_person(user_id):
        return Known(None)  # sims-id, system, import: not people, no email
    row = session.get(UserEmail, user_id)
    if row is None or row.fetched_at <= now - MAX_AGE:
        return None
    return Known(row.email)


def remember(session: Session, user_id: str, email: str | None, *, now: datetime) -> None:
    """Record what users.info said of the user's email (None: it gave none)."""
    row = {"user_id": user_id, "email": email, "fetched_at": now}
    insert_or_update(
        session, UserEmail, row, key=["user_id"], update={"email": email, "fetched_at": now}
    )


def fill_decision(
    session: Session, outbox_id: int, payload: dict[str, Any], email: str | None
) -> dict[str, Any]:
    """Write `actor_email` into a decision not yet sent, and into its author's audit rows
    of that installation that lack it; the payload as it will now be sent."""
    filled = {**payload, "actor_email": email}
    session.execute(
        update(OutboxItem).where(col(OutboxItem.id) == outbox_id).values(payload=filled)
    )
    user = (payload.get("actor") or {}).get("slack_user")
    row = session.get(OutboxItem, outbox_id)
    if email is not None and user and row is not None and row.installation_id is not None:
        session.execute(
            update(AuditEntry)
            .where(
                col(AuditEntry.installation_id) == row.installation_id,
                col(AuditEntry.actor) == user,
                col(AuditEntry.actor_email).is_(None),
            )
            .values(actor_email=email)
        )
    return filled


def fill_audit(session: Session, user_id: str, email: str, *, since: datetime) -> int:
    """Write the user's email into their audit rows since `since` that lack it; how many."""
    result = session.execute(
        update(AuditEntry)
        .where(
            col(AuditEntry.actor) == user_id,
            col(AuditEntry.at) >= since,
            col(AuditEntry.actor_email).is_(None),
        )
        .values(actor_email=email)
    )
    return rowcount(result)
