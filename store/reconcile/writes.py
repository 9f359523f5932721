"""What an apply writes that is not a move of the lifecycle (apply.py calls these,
set-based and one at a time alike): credentials
taken from SIMS ID's list and their audit rows, the audit row's wording, install messages
queued."""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
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
    State,
)
from store.reconcile.types import Comparison, Difference, Kind, Listed, Pair
from store.sqlutil import load_rows, table_of

LISTED_DETAIL = "reconciled with SIMS ID's list"
AUDIT_COLUMNS = ("installation_id", "at", "actor", "action", "from_state", "to_state", "detail")
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


def listed_state(listed: Listed) -> State:
    """The state an installation new to the bot is stored in."""
    return State.ENABLED if listed.enabled else State.PENDING


def row_of(d: Difference) -> Listed:
    """The listed row of a difference the list has (every kind but GONE)."""
    assert d.listed is not None, d.kind
    return d.listed


def lists_a_key(d: Difference) -> bool:
    """Whether the list gives the difference's installation its client key (GONE: no row)."""
    return d.listed_enabled is not None and row_of(d).client_key is not None


def audit_row(
    inst_id: int,
    now: datetime,
    actor: str,
    action: str,
    source: State | None,
    target: State | None,
    listed: Listed | None = None,
) -> tuple[Any, ...]:
    """An audit row in AUDIT_COLUMNS order, for a change a reconciliation makes."""
    detail = LISTED_DETAIL
    if listed is not None and listed.client_key:
        # The key names them; the secret never goes into the audit log.
        detail = f"client key {listed.client_key} from SIMS ID's report"
    source_state = None if source is None else source.value
    target_state = None if target is None else target.value
    return (inst_id, now, actor, action, source_state, target_state, detail)


def listed_credentials(
    comparison: Comparison,
    ids: Mapping[Pair, int],
    skipped: Container[Pair],
    now: datetime,
    actor: str,
) -> tuple[list[tuple[int, Listed]], list[tuple[Any, ...]]]:
    """SIMS ID's credentials to store, by installation, with their audit rows: every
    CREDENTIALS difference but those of installations left alone (`skipped`). `ids` gives
    the installations this apply created."""
    credentials: list[tuple[int, Listed]] = []
    audit: list[tuple[Any, ...]] = []
    for d in comparison.of(Kind.CREDENTIALS):
        pair = (d.application_id, d.site_id)
        inst_id = ids.get(pair, d.installation_id)
        if inst_id is None or pair in skipped:
            continue
        credentials.append((inst_id, row_of(d)))
        audit.append(
            audit_row(inst_id, now, actor, "credentials_from_SIMS_ID", None, None, row_of(d))
        )
    return credentials, audit


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
