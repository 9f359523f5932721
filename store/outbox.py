"""The outbox: work recorded in a change's transaction, done later by a delivery loop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from store import request_id
from store.backoff import Backoff, backoff
from store.models import Installation, MessageStatus, OutboxItem, OutboxKind, utcnow
from store.outbox_due import due_ids
from store.sqlutil import rowcount, table_of

# A claim lasts this long unless its worker renews it: a live worker's heartbeat extends
# its claims every few seconds, so a process that dies mid-delivery (SIGKILL, a lost
# machine) holds its rows for at most this long, not a send's worst-case duration.
CLAIM_SECONDS = 15.0


def message_key(installation_id: int) -> str:
    return f"message:{installation_id}"


def message_row(installation_id: int, channel: str | None, now: datetime) -> dict[str, Any]:
    """The outbox row asking for an installation's message (one per installation: its
    dedupe key); the batch paths insert many of these at once."""
    # Only with a request id: a message row otherwise has no payload at all.
    traced = {"payload": request_id.stamped(None)} if request_id.CURRENT.get() else {}
    return {
        **traced,
        "kind": OutboxKind.MESSAGE,
        "installation_id": installation_id,
        "channel": channel,
        "dedupe_key": message_key(installation_id),
        "generation": 1,
        "created_at": now,
        "due_at": now,
        "attempts": 0,
        "failed": False,
    }


_MESSAGE_UPSERTS: dict[str, Any] = {}
_ROWS_CHUNK = 5_000


def _message_upsert(dialect: str) -> Any:
    """INSERT message rows; a message already queued is rendered again instead, in its
    row's (possibly new) channel: built once per dialect."""
    built = _MESSAGE_UPSERTS.get(dialect)
    if built is None:
        dml: Any = postgresql if dialect == "postgresql" else sqlite
        queued = table_of(OutboxItem)
        stmt = dml.insert(queued)
        built = _MESSAGE_UPSERTS[dialect] = stmt.on_conflict_do_update(
            index_elements=[queued.c.dedupe_key],
            # A delivery in flight sees the generation move and renders again; a coalesced
            # refresh is told under the latest request that has an id.
            set_={
                "generation": queued.c.generation + 1,
                "channel": stmt.excluded.channel,
                "payload": func.coalesce(stmt.excluded.payload, queued.c.payload),
            },
        ).returning(queued.c.id)
    return built


def enqueue_messages(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Ask for each installation's message (rows from `message_row`) to be posted or
    refreshed; requests for one message coalesce into one outbox row."""
    statement = _message_upsert(conn.dialect.name)
    for start in range(0, len(rows), _ROWS_CHUNK):
        # RETURNING makes SQLAlchemy send the rows as one multi-row VALUES.
        conn.execute(statement, list(rows[start : start + _ROWS_CHUNK])).all()


def enqueue_message(
    session: Session, installation_id: int, channel: str | None, *, now: datetime
) -> None:
    """Ask for the installation's message to be posted or refreshed; changes coalesce."""
    enqueue_messages(session.connection(), [message_row(installation_id, channel, now)])


def enqueue(
    session: Session,
    kind: OutboxKind,
    *,
    now: datetime,
    installation_id: int | None = None,
    channel: str | None = None,
    payload: Mapping[str, object] | None = None,
) -> OutboxItem:
    """Record one item of work (an upstream decision, a reminder, a digest)."""
    item = OutboxItem(
        kind=kind,
        installation_id=installation_id,
        channel=channel,
        payload=request_id.stamped(payload),
        created_at=now,
        due_at=now,
    )
    session.add(item)
    return item


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: OutboxKind
    installation_id: int | None
    channel: str | None
    payload: dict[str, Any] | None
    generation: int
    attempts: int
    created_at: datetime
    # The request that queued it (store/request_id.py), when it came from one.
    request_id: str | None = None


def claim_due(
    session: Session,
    *,
    worker: str,
    now: datetime | None = None,
    limit: int = 50,
    kinds: Sequence[OutboxKind] | None = None,
    claim_seconds: float = CLAIM_SECONDS,
    hold_first_posts: Sequence[str] = (),
) -> list[Claimed]:
    """Claim up to `limit` due items for this worker; no two workers claim the same row.

    Upstream decisions go out in order per installation: an item waits while an older
    undelivered one for the same installation exists. Messages not posted yet to a
    channel in `hold_first_posts` (waiting for its turn) are left where they are.
    """
    now = now or utcnow()
    ids = due_ids(session, now=now, limit=limit, kinds=kinds, held=hold_first_posts)
    if not ids:
        return []
    until = now + timedelta(seconds=claim_seconds)
    # The conditional update is the claim on SQLite; on PostgreSQL the row locks already are.
    session.execute(
        update(OutboxItem)
        .where(
            col(OutboxItem.id).in_(ids),
            or_(col(OutboxItem.claimed_until).is_(None), col(OutboxItem.claimed_until) < now),
        )
        .values(claimed_by=worker, claimed_until=until)
    )
    rows = session.scalars(
        select(OutboxItem).where(
            col(OutboxItem.id).in_(ids),
            col(OutboxItem.claimed_by) == worker,
            col(OutboxItem.claimed_until) == until,
        )
    ).all()
    claimed = []
    for r in rows:
        payload, request = request_id.split(r.payload)
        claimed.append(
            Claimed(
                id=r.id or 0,
                kind=r.kind,
                installation_id=r.installation_id,
                channel=r.channel,
                payload=payload,
                generation=r.generation,
                attempts=r.attempts,
                created_at=r.created_at,
                request_id=request,
            )
        )
    return claimed


def complete(session: Session, item: Claimed, *, now: datetime | None = None) -> bool:
    """Mark done; False (and due again now) when the item changed while it was in flight."""
    now = now or utcnow()
    result = session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.id) == item.id, col(OutboxItem.generation) == item.generation)
        .values(done_at=now, dedupe_key=None, claimed_until=None, last_error=None)
    )
    if rowcount(result):
        return True
    session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.id) == item.id)
        .values(due_at=now, claimed_until=None, attempts=0)
    )
    return False


def retry_later(
    session: Session,
    item: Claimed,
    *,
    error: str,
    delay: float | None = None,
    now: datetime | None = None,
    give_up_after: int | None = None,
    backoff: Backoff = backoff,
) -> bool:
    """Record a failed try and when to try again (after `delay` seconds, else after the
    backoff); True when the item was given up on."""
    now = now or utcnow()
    attempts = item.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_error": error[:500],
        "claimed_until": None,
        "due_at": now + timedelta(seconds=delay if delay is not None else backoff(attempts)),
    }
    gave_up = give_up_after is not None and attempts >= give_up_after
    if gave_up:
        values.update(failed=True, done_at=now, dedupe_key=None)
    session.execute(update(OutboxItem).where(col(OutboxItem.id) == item.id).values(**values))
    return gave_up


def postpone_channel(session: Session, channel: str, until: datetime) -> None:
    """Hold every due item for a channel (Slack said Retry-After for it)."""
    session.execute(
        update(OutboxItem)
        .where(
            col(OutboxItem.channel) == channel,
            col(OutboxItem.done_at).is_(None),
            col(OutboxItem.due_at) < until,
            col(OutboxItem.kind) != OutboxKind.UPSTREAM,
        )
        .values(due_at=until)
    )


def message_statuses(session: Session, items: Sequence[Claimed]) -> dict[int, MessageStatus]:
    """Outbox item id -> the message status of its installation, for the message items."""
    by_installation = {
        i.installation_id: i.id for i in items if i.kind is OutboxKind.MESSAGE and i.installation_id
    }
    if not by_installation:
        return {}
    rows = session.execute(
        select(col(Installation.id), col(Installation.message_status)).where(
            col(Installation.id).in_(list(by_installation))
        )
    )
    return {by_installation[iid]: MessageStatus(status) for iid, status in rows}


def postpone_first_posts(session: Session, channel: str, until: datetime) -> None:
    """Hold the channel's messages that are not posted yet until its next turn, in one
    statement, so that delivery does not claim and give back each of them meanwhile."""
    unsent = exists().where(
        col(Installation.id) == col(OutboxItem.installation_id),
        col(Installation.message_status) == MessageStatus.UNSENT,
    )
    session.execute(
        update(OutboxItem)
        .where(
            col(OutboxItem.done_at).is_(None),
            col(OutboxItem.due_at) < until,
            col(OutboxItem.kind) == OutboxKind.MESSAGE,
            col(OutboxItem.channel) == channel,
            unsent,
        )
        .values(due_at=until)
    )


def release(session: Session, item: Claimed, *, due_at: datetime) -> None:
    """Give a claimed item back unchanged, to be done at due_at (pacing, not failure)."""
    session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.id) == item.id)
        .values(claimed_until=None, due_at=due_at)
    )


def release_many(session: Session, ids: Sequence[int], *, worker: str, due_at: datetime) -> None:
    """Give back this worker's claims on `ids` unchanged, to be done at due_at (pacing)."""
    session.execute(
        update(OutboxItem)
        .where(
            col(OutboxItem.id).in_(list(ids)),
            col(OutboxItem.claimed_by) == worker,
            col(OutboxItem.done_at).is_(None),
        )
        .values(claimed_until=None, due_at=due_at)
    )


def release_unfinished(session: Session, ids: Sequence[int], *, worker: str) -> int:
    """Give back this worker's claims on items it could not finish because the database
    went away mid-batch; without this they stay claimed until CLAIM_SECONDS pass."""
    if not ids:
        return 0
    result = session.execute(
        update(OutboxItem)
        .where(
            col(OutboxItem.id).in_(list(ids)),
            col(OutboxItem.claimed_by) == worker,
            col(OutboxItem.claimed_until).is_not(None),
            col(OutboxItem.done_at).is_(None),
        )
        .values(claimed_until=None)
    )
    return rowcount(result)


def renew_claim(
    session: Session,
    item: Claimed,
    *,
    worker: str,
    now: datetime | None = None,
    claim_seconds: float = CLAIM_SECONDS,
) -> bool:
    """Extend this worker's claim just before doing the work; False if the claim was lost.

    A batch is claimed at once and performed one item at a time, so a claim can expire
    while earlier items are slow (an upstream timing out). Another process may then
    claim the item too; renewing right before sending makes exactly one of them send it.
    """
    now = now or utcnow()
    result = session.execute(
        update(OutboxItem)
        .where(
            col(OutboxItem.id) == item.id,
            col(OutboxItem.claimed_by) == worker,
            col(OutboxItem.done_at).is_(None),
        )
        .values(claimed_until=now + timedelta(seconds=claim_seconds))
    )
    return bool(rowcount(result))


def extend_claims(
    session: Session,
    *,
    worker: str,
    now: datetime | None = None,
    claim_seconds: float = CLAIM_SECONDS,
) -> int:
    """Heartbeat: extend every live claim this worker holds; returns how many.

    Claims already expired are left alone: another worker may hold them by now.
    """
    now = now or utcnow()
    result = session.execute(
        update(OutboxItem)
        .where(
            col(OutboxItem.claimed_by) == worker,
            col(OutboxItem.done_at).is_(None),
            col(OutboxItem.claimed_until) >= now,
        )
        .values(claimed_until=now + timedelta(seconds=claim_seconds))
    )
    return rowcount(result)


def superseded() -> Any:
    """An upstream decision of the same installation newer than the OutboxItem row at
    hand exists: resending this one would reach the receiver out of order."""
    newer = aliased(OutboxItem)
    return exists().where(
        and_(
            col(newer.installation_id) == col(OutboxItem.installation_id),
            col(newer.kind) == OutboxKind.UPSTREAM,
            col(newer.id) > col(OutboxItem.id),
        )
    )


def retry_now(session: Session, outbox_id: int, *, now: datetime | None = None) -> bool:
    """Send an upstream decision again now, from its first try; False if it cannot be.

    A failed decision is retried only while it is still the installation's latest: once a
    newer decision exists, resending the old one would reach the receiver out of order.
    A waiting decision is made due now unless a delivery is sending it at this moment
    (clearing that claim would let a second process send it too).
    """
    now = now or utcnow()
    unclaimed = or_(col(OutboxItem.claimed_until).is_(None), col(OutboxItem.claimed_until) < now)
    result = session.execute(
        update(OutboxItem)
        .where(
            col(OutboxItem.id) == outbox_id,
            col(OutboxItem.kind) == OutboxKind.UPSTREAM,
            or_(
                and_(col(OutboxItem.failed).is_(True), ~superseded()),
                and_(col(OutboxItem.done_at).is_(None), unclaimed),
            ),
        )
        .values(
            failed=False,
            done_at=None,
            due_at=now,
            attempts=0,
            last_error=None,
            claimed_until=None,
        )
    )
    return bool(rowcount(result))


def next_due(session: Session) -> datetime | None:
    """When the earliest undone item is due (in the past while work waits); None if none."""
    return session.scalar(
        select(func.min(col(OutboxItem.due_at))).where(col(OutboxItem.done_at).is_(None))
    )


def installation_of(session: Session, outbox_id: int) -> int | None:
    return session.scalar(
        select(col(OutboxItem.installation_id)).where(col(OutboxItem.id) == outbox_id)
    )
