"""The outbox's "what is due" query, built once per dialect and shape.

The delivery loop of every process asks it after each commit nudge and on every poll.
Building the statement (an aliased table, EXISTS subqueries, its cache key) cost several
times what running it does, so it is built once with bound parameters and reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, exists, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from store.models import Installation, MessageStatus, OutboxItem, OutboxKind
from store.sqlutil import table_of

_BUILT: dict[tuple[str, bool, bool], Select[Any]] = {}


def _build(dialect: str, with_kinds: bool, with_held: bool) -> Select[Any]:
    columns = table_of(OutboxItem).c
    now = bindparam("now", type_=columns.due_at.type)
    older = aliased(OutboxItem)
    blocked_by_older = exists().where(
        and_(
            col(older.installation_id) == col(OutboxItem.installation_id),
            col(older.kind) == OutboxKind.UPSTREAM,
            col(older.id) < col(OutboxItem.id),
            col(older.done_at).is_(None),
        )
    )
    conditions = [
        col(OutboxItem.done_at).is_(None),
        col(OutboxItem.due_at) <= now,
        or_(col(OutboxItem.claimed_until).is_(None), col(OutboxItem.claimed_until) < now),
        or_(col(OutboxItem.kind) != OutboxKind.UPSTREAM, ~blocked_by_older),
    ]
    if with_kinds:
        kinds = bindparam("kinds", expanding=True, type_=columns.kind.type)
        conditions.append(col(OutboxItem.kind).in_(kinds))
    if with_held:
        unsent = exists().where(
            col(Installation.id) == col(OutboxItem.installation_id),
            col(Installation.message_status) == MessageStatus.UNSENT,
        )
        held = bindparam("held", expanding=True, type_=columns.channel.type)
        conditions.append(
            or_(
                col(OutboxItem.kind) != OutboxKind.MESSAGE,
                col(OutboxItem.channel).is_(None),
                col(OutboxItem.channel).not_in(held),
                ~unsent,
            )
        )
    query = (
        select(col(OutboxItem.id))
        .where(*conditions)
        .order_by(col(OutboxItem.due_at))
        .limit(bindparam("limit", type_=Integer()))
    )
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return query


def due_ids(
    session: Session,
    *,
    now: datetime,
    limit: int,
    kinds: Sequence[OutboxKind] | None,
    held: Sequence[str],
) -> list[int]:
    """Ids of up to `limit` due, unclaimed items, oldest due first (see outbox.claim_due);
    locked on PostgreSQL (SKIP LOCKED), so that no two workers claim the same row."""
    key = (session.get_bind().dialect.name, bool(kinds), bool(held))
    query = _BUILT.get(key)
    if query is None:
        query = _BUILT[key] = _build(*key)
    params: dict[str, object] = {"now": now, "limit": limit}
    if kinds:
        params["kinds"] = list(kinds)
    if held:
        params["held"] = list(held)
    return list(session.scalars(query, params))
