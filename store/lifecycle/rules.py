"""The lifecycle's rules as data: every move an installation can make and what follows it.

One table, `MOVES`: for each move its target state, audit action, the columns it resets,
its effect on credentials and on the install message. The one-installation path
(`base.py`) and the set-based paths (`bulk.py` for events, and the apply of SIMS ID's
list) build their statements from it, and the rows they insert from `installation_row`
and `credential_rows`, so a rule changed here changes on every path; an equivalence test
per set-based path holds it to the one-installation path (the paths and their tests:
docs/lifecycle.md, "Where the rules live").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from store import vault
from store.models import Credential, CredentialOrigin, MessageStatus, State
from store.sqlutil import load_rows, table_of

_IN_CHUNK = 500  # ids per IN (...) list, well inside every driver's parameter limit


class Credentials(Enum):
    """What a move does to the installation's client credentials."""

    KEEP = "keep"
    # A new key and secret, or a new secret under the old key after a removal.
    ISSUE = "issue"
    # The secret goes; the key stays, so a reinstall keeps the key SIMS ID knows.
    DESTROY = "destroy"


class Message(Enum):
    """What a move does to the installation's Slack message."""

    # Redrawn where it is (posted when not yet): its state, buttons and reason change.
    REFRESH = "refresh"
    # A new pending cycle starts over: a new message, posted only when the caller
    # notifies, else the cycle is silent.
    NEW = "new"
    # None, ever: the installation was never seen installed.
    NONE = "none"


# Any change of state withdraws an open removal request (the request was about the
# state now gone), clears a void one, and replaces the reason of the last change.
REQUEST_COLUMNS = (
    "removal_requested_by",
    "removal_requested_at",
    "removal_reason",
    "removal_voided_at",
)
# A new cycle starts the installation over, as if it were new.
CYCLE_COLUMNS = ("reminders_sent", "message_ts", "message_channel")


@dataclass(frozen=True)
class Move:
    """One move: where it goes, how the audit log names it, and what follows."""

    target: State
    action: str
    message: Message = Message.REFRESH
    resets: tuple[str, ...] = field(default=REQUEST_COLUMNS)

    @property
    def credentials(self) -> Credentials:
        return credentials_for(self.target)

    def values(
        self, *, now: datetime, actor: str, notify: bool, reason: str | None = None
    ) -> dict[str, Any]:
        """The columns this move sets (besides the version, which the caller compares and
        sets): its state, who and when, the reason, and the columns it resets."""
        values: dict[str, Any] = {
            "state": self.target,
            "changed_at": now,
            "changed_by": actor,
            "change_reason": reason,
        }
        values |= {column: None for column in self.resets}
        if self.message is Message.NEW:
            values |= {"created_at": now, "reminders_sent": 0}
        status = self.message_status(notify)
        if status is not None:
            values["message_status"] = status
        return values

    def message_status(self, notify: bool) -> MessageStatus | None:
        """The message status this move sets; None: the message stays as it is."""
        if self.message is Message.NEW:
            return message_status(notify)
        if self.message is Message.NONE:
            return MessageStatus.SILENT
        return None


def credentials_for(target: State) -> Credentials:
    """Enabled: the installation has live credentials; removed: its secret is gone."""
    if target is State.ENABLED:
        return Credentials.ISSUE
    if target is State.REMOVED:
        return Credentials.DESTROY
    return Credentials.KEEP


def message_status(notify: bool) -> MessageStatus:
    """A new installation's or cycle's message: to be posted, or deliberately none."""
    return MessageStatus.UNSENT if notify else MessageStatus.SILENT


_NEW_CYCLE = (*REQUEST_COLUMNS, *CYCLE_COLUMNS)


class MoveName(StrEnum):
    """The moves of the table, by what causes them."""

    # A person in Slack (store/lifecycle/actions.py), from TRANSITIONS' source states.
    APPROVE = "approve"
    ENABLE = "enable"
    DISABLE = "disable"
    REMOVE = "remove"
    # SIMS ID's install events.
    INSTALLED = "installed"
    REINSTALLED = "reinstalled"
    AUTO_ENABLED = "auto_enabled"
    UNINSTALLED = "uninstalled"
    REMOVED_UNSEEN = "removed_unseen"
    # SIMS ID's list, when it disagrees with the bot.
    APPROVED_IN_SIMS_ID = "approved_in_SIMS_ID"
    DISABLED_IN_SIMS_ID = "disabled_in_SIMS_ID"
    REINSTALLED_ENABLED = "reinstalled_enabled"


MOVES: Mapping[MoveName, Move] = {
    MoveName.APPROVE: Move(State.ENABLED, "approve"),
    MoveName.ENABLE: Move(State.ENABLED, "enable"),
    MoveName.DISABLE: Move(State.DISABLED, "disable"),
    MoveName.REMOVE: Move(State.REMOVED, "remove"),
    MoveName.INSTALLED: Move(State.PENDING, "installed", Message.NEW, _NEW_CYCLE),
    MoveName.REINSTALLED: Move(State.PENDING, "reinstalled", Message.NEW, _NEW_CYCLE),
    MoveName.AUTO_ENABLED: Move(State.ENABLED, "auto_enabled"),
    MoveName.UNINSTALLED: Move(State.REMOVED, "uninstalled"),
    # The first event of an installation is its removal: stored removed, no message.
    MoveName.REMOVED_UNSEEN: Move(State.REMOVED, "uninstalled", Message.NONE),
    MoveName.APPROVED_IN_SIMS_ID: Move(State.ENABLED, "approved_in_SIMS_ID"),
    MoveName.DISABLED_IN_SIMS_ID: Move(State.DISABLED, "disabled_in_SIMS_ID"),
    # SIMS ID lists as enabled an installation the bot holds as removed: a new cycle,
    # already enabled.
    MoveName.REINSTALLED_ENABLED: Move(State.ENABLED, "reinstalled", Message.NEW, _NEW_CYCLE),
}


def withdrawn_detail(requester: str, target: State) -> str:
    """The audit detail of a removal request withdrawn by a change of state."""
    return f"request by {requester} withdrawn by the change to {target}"


def move_audit(
    installation_id: int,
    move: Move,
    *,
    at: datetime,
    actor: str,
    source: State | None,
    detail: str | None = None,
    reason: str | None = None,
    withdrawn: str | None = None,
) -> list[dict[str, Any]]:
    """The audit rows of a move: the move (`source` None: the installation's first
    state), then, when it withdrew `withdrawn`'s open removal request, that."""
    target = move.target.value
    rows = [
        {
            "installation_id": installation_id,
            "at": at,
            "actor": actor,
            "action": move.action,
            "from_state": None if source is None else State(source).value,
            "to_state": target,
            "detail": detail,
            "reason": reason,
        }
    ]
    if withdrawn is not None:
        rows.append(
            {
                "installation_id": installation_id,
                "at": at,
                "actor": actor,
                "action": "removal_cancelled",
                "from_state": target,
                "to_state": None,
                "detail": withdrawn_detail(withdrawn, move.target),
                "reason": None,
            }
        )
    return rows


def installation_row(
    application_id: str,
    site_id: str,
    *,
    state: State,
    version: int,
    now: datetime,
    actor: str,
    status: MessageStatus,
    upstream_changed_at: datetime | None = None,
) -> dict[str, Any]:
    """A new installation's row, as every path inserts it."""
    return {
        "application_id": application_id,
        "site_id": site_id,
        "state": state,
        "version": version,
        "created_at": now,
        "changed_at": now,
        "changed_by": actor,
        "upstream_changed_at": upstream_changed_at,
        "message_status": status,
        "message_channel": None,
        "message_ts": None,
        "reminders_sent": 0,
    }


# -- credentials, for one installation or many ------------------------------------------

CREDENTIAL_COLUMNS = ("installation_id", "client_key", "secret", "created_at", "origin")


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _IN_CHUNK):
        yield ids[start : start + _IN_CHUNK]


def issue_credentials(conn: Connection, ids: list[int], now: datetime) -> None:
    """The move to enabled: a new key and secret, or a new secret under the old key
    after a removal (a new cycle gets a new secret); credentials still live are kept."""
    cred = table_of(Credential)
    held: dict[int, bool] = {}
    for chunk in _chunks(ids):
        query = select(cred.c.installation_id, cred.c.secret.is_(None)).where(
            cred.c.installation_id.in_(chunk)
        )
        held.update((i, bool(empty)) for i, empty in conn.execute(query))
    bot = CredentialOrigin.BOT.value
    fresh = [
        (i, vault.new_client_key(), vault.new_client_secret(), now, bot)
        for i in ids
        if i not in held
    ]
    load_rows(conn, cred, fresh, CREDENTIAL_COLUMNS)
    renewed = [{"i": i, "secret": vault.new_client_secret()} for i, empty in held.items() if empty]
    if renewed:
        stmt = (
            update(cred)
            .where(cred.c.installation_id == bindparam("i"))
            .values(secret=bindparam("secret"), origin=bot)
        )
        conn.execute(stmt, renewed)


def destroy_secrets(conn: Connection, ids: list[int]) -> None:
    """The move to removed: the secrets go, the keys stay."""
    cred = table_of(Credential)
    for chunk in _chunks(ids):
        conn.execute(update(cred).where(cred.c.installation_id.in_(chunk)).values(secret=None))


def apply_credentials(
    conn: Connection, effects: Iterable[tuple[int, Credentials]], now: datetime
) -> None:
    """Each installation's credential effect, one statement or two for all of them."""
    by_effect: dict[Credentials, list[int]] = {c: [] for c in Credentials}
    for inst_id, effect in effects:
        by_effect[effect].append(inst_id)
    if by_effect[Credentials.ISSUE]:
        issue_credentials(conn, by_effect[Credentials.ISSUE], now)
    if by_effect[Credentials.DESTROY]:
        destroy_secrets(conn, by_effect[Credentials.DESTROY])
