"""The multi-row statements of an apply that only a reconciliation makes (the lifecycle's
moves, store/lifecycle/reconcile.py, call them): credentials taken from SIMS ID's list,
install messages queued."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from store import outbox
from store.messages import route
from store.models import (
    Application,
    Credential,
    CredentialOrigin,
    MessageStatus,
)
from store.reconcile.types import Difference, Listed, Pair
from store.sqlutil import load_rows, table_of

CREDENTIAL_COLUMNS = ("installation_id", "client_key", "secret", "created_at", "origin")
_IN_CHUNK = 500
_ROWS_CHUNK = 5_000


@dataclass
class Moved:
    """An installation a statement of this apply changed."""

    id: int
    application_id: str
    message_status: MessageStatus
    message_channel: str | None
    removal_requested_by: str | None = None  # an open request this change withdrew


def chunked_execute(conn: Connection, statement: Any, rows: list[dict[str, Any]]) -> None:
    """Run `statement` for `rows`, a few thousand rows per round trip."""
    for start in range(0, len(rows), _ROWS_CHUNK):
        conn.execute(statement, rows[start : start + _ROWS_CHUNK])


def store_listed_credentials(
    conn: Connection, credentials: list[tuple[int, Listed]], now: datetime
) -> None:
    """SIMS ID's client key and secret replace whatever the bot held. All the old rows go
    first, so a key that moves from one installation to another never clashes."""
    if not credentials:
        return
    cred = table_of(Credential)
    ids = [inst_id for inst_id, _ in credentials]
    for start in range(0, len(ids), _IN_CHUNK):
        conn.execute(delete(cred).where(cred.c.installation_id.in_(ids[start : start + _IN_CHUNK])))
    origin = CredentialOrigin.SIMS_ID.value
    rows = [
        (inst_id, listed.client_key, listed.client_secret, now, origin)
        for inst_id, listed in credentials
    ]
    load_rows(conn, cred, rows, CREDENTIAL_COLUMNS)


def refresh_messages(
    conn: Connection,
    dml: Any,
    moved: Iterable[Moved],
    created: dict[Pair, int],
    unknown: list[Difference],
    now: datetime,
    default_channel: str | None,
    *,
    notify: bool,
) -> None:
    """Queue a post or an in-place refresh of each changed installation's message."""
    apps = table_of(Application)
    channels: dict[str, str | None] = {
        i: c for i, c in conn.execute(select(apps.c.id, apps.c.channel))
    }
    wanted: dict[int, str | None] = {}
    live = (MessageStatus.UNSENT, MessageStatus.POSTED)
    for m in moved:
        if m.message_status in live:
            wanted[m.id] = route(m.message_channel, channels.get(m.application_id), default_channel)
    if notify:
        for d in unknown:
            inst_id = created.get((d.application_id, d.site_id))
            if inst_id is not None:
                wanted[inst_id] = route(None, channels.get(d.application_id), default_channel)
    rows = [outbox.message_row(inst_id, channel, now) for inst_id, channel in wanted.items()]
    outbox.enqueue_messages(conn, rows)
