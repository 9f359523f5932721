"""Once-only scheduled work: a claim row per digest period and per reminder step.

Any number of schedulers may run. Each inserts the claim row for the work it is about
to do; the insert that succeeds does the work, in the same transaction, and the others
see a duplicate key and stop. Nothing is held in memory between processes.

Reminders. A pending installation whose message is in Slack is reminded in its thread
at doubling intervals measured from the start of its pending cycle (``created_at``):
with ``A`` the first delay, step ``n`` (0-based) is due at ``created_at + A * 2**n``,
that is at +A, +2A, +4A, +8A and so on. ``Installation.reminders_sent`` is the next
step to send. A scheduler that was down while several steps fell due sends only the
latest of them, so an outage produces one reminder rather than a burst.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlmodel import Session, col

from store import outbox
from store.models import Installation, JobClaim, MessageStatus, OutboxKind, State
from store.sqlutil import insert_ignore, rowcount

KEY_MAX = 200  # JobClaim.key's column length
WORKER_MAX = 64  # JobClaim.claimed_by's column length


def claim(session: Session, key: str, *, by: str, now: datetime) -> bool:
    """Insert the claim row `key`; True when this caller inserted it (and so does the work).

    The row commits or rolls back with the caller's transaction, together with the work
    it stands for.
    """
    if len(key) > KEY_MAX:
        raise ValueError(f"claim key longer than {KEY_MAX} characters: {key[:40]}…")
    row = {"key": key, "claimed_at": now, "claimed_by": by[:WORKER_MAX]}
    return insert_ignore(session, JobClaim, [row]) == 1


def digest_period_key(channel: str, period_start: datetime) -> str:
    """The claim key of one channel's digest for the period starting at `period_start`."""
    if period_start.tzinfo is None:
        raise ValueError("period_start must be timezone-aware")
    # UTC, so one instant has one spelling whatever zone the caller computed it in.
    return f"digest:{channel}:{period_start.astimezone(UTC).isoformat()}"


def reminder_key(installation_id: int, created_at: datetime, step: int) -> str:
    """The claim key of one reminder step; a new pending cycle has a new created_at."""
    return f"remind:{installation_id}:{created_at.astimezone(UTC).isoformat()}:{step}"


def reminder_due_at(created_at: datetime, first_after: timedelta, step: int) -> datetime:
    """When reminder `step` (0-based) of a cycle that began at `created_at` falls due."""
    factor: int = 2**step  # typeshed's int ** int is Any: a negative power would be a float
    return created_at + first_after * factor


def latest_due_step(waited: timedelta, first_after: timedelta) -> int | None:
    """The highest step due after waiting `waited`; None when not even the first is."""
    if first_after <= timedelta(0) or waited < first_after:
        return None
    step = 0
    while first_after * 2 ** (step + 1) <= waited:
        step += 1
    return step


def due_reminders(
    session: Session, *, now: datetime, first_after: timedelta, limit: int = 500
) -> list[tuple[int, int]]:
    """Pending installations with a posted message whose next reminder is due.

    Returns up to `limit` ``(installation_id, step)`` pairs, where `step` is the latest
    step due now (at least ``reminders_sent``), the longest waiting first among those
    returned; with more due than `limit`, the rest come on the next call. Two indexed
    statements, whatever the number of installations.
    """
    oldest = session.scalar(
        select(col(Installation.created_at))
        .where(col(Installation.state) == State.PENDING)
        .order_by(col(Installation.created_at))
        .limit(1)
    )
    if oldest is None:
        return []
    last = latest_due_step(now - oldest, first_after)
    if last is None:
        return []
    # A row at step n is due once created_at <= now - A*2**n. Each step is its own range
    # on ix_installation_remind (the planners union them); an ORDER BY here would tempt
    # them into walking every pending row in created_at order instead.
    due = or_(
        *(
            and_(
                col(Installation.state) == State.PENDING,
                col(Installation.message_status) == MessageStatus.POSTED,
                col(Installation.reminders_sent) == step,
                col(Installation.created_at) <= now - first_after * 2**step,
            )
            for step in range(last + 1)
        )
    )
    rows = session.execute(
        select(col(Installation.id), col(Installation.created_at), col(Installation.reminders_sent))
        .where(due, col(Installation.message_ts).is_not(None))
        .limit(limit)
    ).all()
    found: list[tuple[int, int]] = []
    for installation_id, created_at, sent in sorted(rows, key=lambda r: (r[1], r[0])):
        step = latest_due_step(now - created_at, first_after)
        if step is not None and step >= sent:
            found.append((int(installation_id), step))
    return found


def record_reminder(
    session: Session, installation_id: int, step: int, *, now: datetime, by: str
) -> bool:
    """Claim reminder `step` of the installation's current cycle and queue it; True if won.

    In one transaction: the claim row, ``reminders_sent`` moved past `step`, and a
    REMINDER outbox item. False, with nothing written, when another process won this
    step, the installation is no longer pending or has no message, or a later step was
    already sent.
    """
    row = session.execute(
        select(col(Installation.created_at), col(Installation.message_channel)).where(
            col(Installation.id) == installation_id,
            col(Installation.state) == State.PENDING,
            col(Installation.message_ts).is_not(None),
            col(Installation.reminders_sent) <= step,
        )
    ).first()
    if row is None:
        return False
    created_at, channel = row
    key = reminder_key(installation_id, created_at, step)
    if not claim(session, key, by=by, now=now):
        return False
    # reminders_sent is bookkeeping, not state, so it moves here rather than through the
    # lifecycle; the conditions make a concurrent approval or new cycle win over us.
    moved = session.execute(
        update(Installation)
        .where(
            col(Installation.id) == installation_id,
            col(Installation.state) == State.PENDING,
            col(Installation.created_at) == created_at,
            col(Installation.reminders_sent) <= step,
        )
        .values(reminders_sent=step + 1)
    )
    if rowcount(moved) != 1:
        # Give the step back: it was not sent, so a later cycle or caller may send it.
        session.execute(delete(JobClaim).where(col(JobClaim.key) == key))
        return False
    outbox.enqueue(
        session,
        OutboxKind.REMINDER,
        now=now,
        installation_id=installation_id,
        channel=channel,
        payload={"step": step},
    )
    return True
