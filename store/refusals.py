"""Lasting refusals: a target (a channel, the credentials) that said no for a reason that
retrying will not change, and the outbox items held until it says yes.

Every process shares these rows: one refusal is told once, retried on one clock, and
cleared for all by the first call that succeeds. Held items carry `HELD` and their
target in `last_error`, so that `outbox --retry all` and a cleared refusal find them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlmodel import Session, col

from store.models import OutboxItem, Refusal
from store.sqlutil import insert_ignore, like_pattern, rowcount

HELD = "held: "
# The credentials as a whole: every call made with them is refused.
CREDENTIALS = "credentials"


def channel_target(channel: str) -> str:
    """The target naming one channel."""
    return f"channel:{channel}"


def channel_of(target: str) -> str | None:
    """The channel a target names; None for the credentials."""
    return target.removeprefix("channel:") if target.startswith("channel:") else None


@dataclass(frozen=True)
class Refused:
    target: str
    error: str
    since: datetime
    next_try_at: datetime
    told_at: datetime | None


def record(session: Session, target: str, error: str, *, now: datetime, hold: float) -> bool:
    """The target refused with `error`; ask again in `hold` seconds. True when this is news
    (the target was not refused, or for another reason): the caller says so, once."""
    next_try = now + timedelta(seconds=hold)
    row = {"target": target, "error": error[:80], "since": now, "next_try_at": next_try}
    if insert_ignore(session, Refusal, [row]):
        return True
    changed = session.execute(
        update(Refusal)
        .where(col(Refusal.target) == target, col(Refusal.error) != row["error"])
        .values(error=row["error"], since=now, next_try_at=next_try, told_at=None)
    )
    if rowcount(changed):
        return True
    session.execute(
        update(Refusal).where(col(Refusal.target) == target).values(next_try_at=next_try)
    )
    return False


def clear(session: Session, target: str, *, now: datetime) -> bool:
    """The target said yes: forget its refusal and make its held items due now; True when
    it had been refused."""
    gone = rowcount(session.execute(delete(Refusal).where(col(Refusal.target) == target)))
    if gone:
        release_held(session, target, now=now)
    return bool(gone)


def active(session: Session) -> list[Refused]:
    """Every refusal standing, oldest first."""
    rows = session.scalars(select(Refusal).order_by(col(Refusal.since), col(Refusal.target)))
    return [Refused(r.target, r.error, r.since, r.next_try_at, r.told_at) for r in rows]


def take_try(session: Session, target: str, *, now: datetime, hold: float) -> bool:
    """Claim the next try of a refused target when it is due (one process wins it, and the
    next is `hold` seconds on); False when not due or not refused."""
    result = session.execute(
        update(Refusal)
        .where(col(Refusal.target) == target, col(Refusal.next_try_at) <= now)
        .values(next_try_at=now + timedelta(seconds=hold))
    )
    return bool(rowcount(result))


def claim_telling(session: Session, target: str, error: str, *, now: datetime) -> bool:
    """Claim telling people of this refusal; True for exactly one caller per target and
    error (until `untell`)."""
    result = session.execute(
        update(Refusal)
        .where(
            col(Refusal.target) == target,
            col(Refusal.error) == error[:80],
            col(Refusal.told_at).is_(None),
        )
        .values(told_at=now)
    )
    return bool(rowcount(result))


def untell(session: Session, target: str) -> None:
    """Telling failed: the next refusal tries again."""
    session.execute(update(Refusal).where(col(Refusal.target) == target).values(told_at=None))


def hold(session: Session, item_id: int, target: str, error: str, *, until: datetime) -> None:
    """Give a claimed item back, held by the target's refusal until `until` (no try is
    counted: nothing was wrong with the item)."""
    session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.id) == item_id)
        .values(claimed_until=None, due_at=until, last_error=f"{HELD}{target}: {error}"[:500])
    )


def _held(target: str | None) -> ColumnElement[bool]:
    pattern = HELD + (f"{target}:" if target else "")
    return col(OutboxItem.last_error).like(like_pattern(pattern)[1:], escape="\\")


def release_held(session: Session, target: str | None, *, now: datetime) -> int:
    """Make the items held by `target`'s refusal (every refusal's when None) due now."""
    result = session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.done_at).is_(None), _held(target))
        .values(due_at=now, last_error=None)
    )
    return rowcount(result)


def retry_all(session: Session, *, now: datetime) -> int:
    """Try every refused target again now, with every item it holds; how many items."""
    session.execute(update(Refusal).values(next_try_at=now))
    return release_held(session, None, now=now)


def held_count(session: Session) -> int:
    """How many items wait for a refusal to end."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(OutboxItem)
            .where(col(OutboxItem.done_at).is_(None), _held(None))
        )
        or 0
    )
