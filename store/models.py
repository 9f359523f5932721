"""SQLModel tables: applications, sites, installations and their counts, credentials, audit,
outbox, claims,
maintenance windows."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Dialect, Index, UniqueConstraint, and_, text
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel, col

from store.vault import EncryptedSecret


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on SQLite too, which stores them naive."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(
        self, value: datetime | None, dialect: Dialect | None
    ) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Any, as sqlmodel.Field itself returns: the attribute it initialises is declared datetime.
def _now_column() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _optional_time() -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class State(StrEnum):
    PENDING = "pending"
    ENABLED = "enabled"
    DISABLED = "disabled"
    REMOVED = "removed"


class CredentialOrigin(StrEnum):
    BOT = "bot"
    SIMS_ID = "sims-id"


class MessageStatus(StrEnum):
    """What the installation's Slack message is: not yet posted, posted, or deliberately none."""

    UNSENT = "unsent"
    POSTED = "posted"
    SUMMARISED = "summarised"  # a burst: covered by a summary line, actionable from /simsid pending
    SILENT = "silent"  # imported without --notify


class ApplicationBase(SQLModel):
    id: str = Field(primary_key=True, max_length=200)
    name: str
    slug: str = Field(max_length=200, unique=True)
    channel: str | None = Field(default=None, max_length=40)
    bypass_auth: bool = False
    sims_primary: bool = False


class Application(ApplicationBase, table=True):
    __tablename__ = "application"
    __table_args__ = (Index("ix_application_lower_name", text("lower(name)")),)

    created_at: datetime = _now_column()


class ApplicationApprover(SQLModel, table=True):
    """Someone who may act on one application's installations and read its secrets: a
    Slack user id (U…/W…) or a user group id (S…), as in SIMSID_ADMINS."""

    __tablename__ = "application_approver"

    application_id: str = Field(foreign_key="application.id", primary_key=True, max_length=200)
    principal: str = Field(primary_key=True, max_length=40)


# KELVIN SIGN is the one character outside ASCII whose lower case is ASCII ("k"). With it
# swapped for "k", lower() folds a name the way Python's str.lower() does whenever the
# result can equal an ASCII needle, on SQLite (ASCII-only lower()) and PostgreSQL alike.
ASCII_NAME_SQL = "lower(replace(name, '\u212a', 'k'))"


class Site(SQLModel, table=True):
    __tablename__ = "site"
    __table_args__ = (
        Index("ix_site_lower_name", text("lower(name)")),
        # Exact, case-insensitive name lookups (store.queries.match_sites); see there.
        Index("ix_site_ascii_name", text(ASCII_NAME_SQL)),
        Index("ix_site_urn", "urn"),
        Index("ix_site_dfe_number", "dfe_number"),
    )

    id: str = Field(primary_key=True, max_length=200)
    name: str
    urn: str | None = None
    dfe_number: str | None = None
    updated_at: datetime = _now_column()


class Installation(SQLModel, table=True):
    __tablename__ = "installation"
    __table_args__ = (
        UniqueConstraint("application_id", "site_id", name="uq_installation_app_site"),
        Index("ix_installation_state_created", "state", "created_at", "id"),
        Index("ix_installation_app_state", "application_id", "state"),
        Index("ix_installation_site", "site_id"),
        Index("ix_installation_remind", "state", "message_status", "reminders_sent", "created_at"),
        Index("ix_installation_state_app_created", "state", "application_id", "created_at"),
        # The Home tab's removals waiting for a second admin: few rows, found by index.
        Index("ix_installation_removal_requested", "removal_requested_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="application.id", max_length=200)
    site_id: str = Field(foreign_key="site.id", max_length=200)
    state: State = Field(max_length=16)
    version: int = 1
    # When the current pending cycle began: reinstalling after removal restarts it.
    created_at: datetime = _now_column()
    changed_at: datetime = _now_column()
    changed_by: str | None = Field(default=None, max_length=64)
    # occurred_at of the last SIMS ID event applied: older events change nothing.
    upstream_changed_at: datetime | None = _optional_time()
    message_status: MessageStatus = Field(default=MessageStatus.UNSENT, max_length=16)
    message_channel: str | None = Field(default=None, max_length=40)
    message_ts: str | None = Field(default=None, max_length=40)
    reminders_sent: int = 0
    # Why the last change was made, as its author said (the audit row keeps it too).
    change_reason: str | None = None
    # An admin's removal request waiting for a second admin (SIMSID_REMOVE_APPROVALS=2);
    # any change of state withdraws it. removal_voided_at is set when it was found void
    # (the requester could no longer act when another confirmed): kept to say so, never
    # confirmed. Read them through removal_request_status and REMOVAL_REQUEST_OPEN.
    removal_requested_by: str | None = Field(default=None, max_length=64)
    removal_requested_at: datetime | None = _optional_time()
    removal_reason: str | None = None
    removal_voided_at: datetime | None = _optional_time()


class RemovalRequestStatus(StrEnum):
    """Where an installation's two-person removal request stands."""

    NONE = "none"
    OPEN = "open"  # waiting for a second admin
    VOID = "void"  # its requester could no longer act at confirmation: a fresh one is needed


def removal_request_status(
    requested_at: datetime | None, voided_at: datetime | None
) -> RemovalRequestStatus:
    """A request is open when requested and not voided, void when voided (the Python side
    of REMOVAL_REQUEST_OPEN, which must say the same)."""
    if requested_at is None:
        return RemovalRequestStatus.NONE
    if voided_at is not None:
        return RemovalRequestStatus.VOID
    return RemovalRequestStatus.OPEN


# removal_request_status(...) is OPEN, in SQL; removal_requested_at is indexed, and the
# void requests it also matches are few.
REMOVAL_REQUEST_OPEN = and_(
    col(Installation.removal_requested_at).is_not(None),
    col(Installation.removal_voided_at).is_(None),
)


class InstallationCount(SQLModel, table=True):
    """How many installations each application has in each state, so that listings and the
    digest read a few rows rather than count every installation. The lifecycle keeps it in
    the same transaction as each change (store/lifecycle/tally.py), which can also rebuild it.
    """

    __tablename__ = "installation_count"

    application_id: str = Field(foreign_key="application.id", primary_key=True, max_length=200)
    state: State = Field(primary_key=True, max_length=16)
    count: int = 0


class Credential(SQLModel, table=True):
    __tablename__ = "credential"

    installation_id: int = Field(
        foreign_key="installation.id", primary_key=True, ondelete="CASCADE"
    )
    client_key: str = Field(max_length=64, unique=True)
    secret: str | None = Field(default=None, sa_column=Column(EncryptedSecret(), nullable=True))
    created_at: datetime = _now_column()
    # Who issued them: the bot on approval, or SIMS ID, taken from its list of installations.
    origin: str = Field(
        default=CredentialOrigin.BOT, max_length=16, sa_column_kwargs={"server_default": "bot"}
    )


# What the Home tab lists as decisions (store.queries.latest_decisions): people's
# changes and the two-person steps.
DECISION_ACTIONS = (
    "approve",
    "enable",
    "disable",
    "remove",
    "remove_requested",
    "removal_cancelled",
)
DECISIONS_SQL = "action IN ({})".format(", ".join(f"'{a}'" for a in DECISION_ACTIONS))


class AuditEntry(SQLModel, table=True):
    """Append-only: nothing deletes these rows, and the one update is filling in
    `actor_email` once Slack has told it (store/user_emails.py)."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_installation", "installation_id", "id"),
        # The Home tab's latest decisions: the audit log only grows, and most of it is
        # installs, so the few decision rows get an index of their own.
        Index(
            "ix_audit_decisions",
            "id",
            postgresql_where=text(DECISIONS_SQL),
            sqlite_where=text(DECISIONS_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    installation_id: int = Field(foreign_key="installation.id")
    at: datetime = _now_column()
    actor: str = Field(max_length=64)
    action: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str | None = Field(default=None, max_length=16)
    detail: str | None = None
    # Why, in the words of the person who acted (Disable, Remove and removal requests).
    reason: str | None = None
    # The acting Slack user's email as Slack knew it, for SIMS ID's audit; None for the
    # system, or when Slack would not tell (store/user_emails.py).
    actor_email: str | None = Field(default=None, max_length=254)


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_event"

    id: str = Field(primary_key=True, max_length=200)
    received_at: datetime = _now_column()
    installation_id: int | None = Field(default=None, foreign_key="installation.id")


class OutboxKind(StrEnum):
    MESSAGE = "message"  # post or refresh an installation's Slack message
    UPSTREAM = "upstream"  # send a decision to SIMSID_UPSTREAM_URL
    REMINDER = "reminder"  # reply in the install message's thread
    DIGEST = "digest"  # the pending-approvals digest
    NOTICE = "notice"  # a one-off channel message, its content in the payload


class OutboxItem(SQLModel, table=True):
    """Work to do outside the database, written in the same transaction as its cause."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "done_at", "due_at"),
        Index("ix_outbox_installation", "installation_id", "kind", "id"),
        # Decisions upstream refused for good, which /healthz counts: few among many.
        Index(
            "ix_outbox_failed",
            "kind",
            "created_at",
            sqlite_where=text("failed = 1"),  # as SQLAlchemy writes it on SQLite
            postgresql_where=text("failed"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: OutboxKind = Field(max_length=16)
    installation_id: int | None = Field(default=None, foreign_key="installation.id")
    channel: str | None = Field(default=None, max_length=40)
    # While not done, a MESSAGE row is unique per installation so changes coalesce.
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    generation: int = 1
    created_at: datetime = _now_column()
    due_at: datetime = _now_column()
    attempts: int = 0
    last_error: str | None = None
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = _optional_time()
    done_at: datetime | None = _optional_time()
    failed: bool = False


class Refusal(SQLModel, table=True):
    """A lasting refusal by the chat service: a target (a channel, or the credentials as a
    whole) that said no, why, and when to ask again. Shared by every process, so that one
    refusal is told once and retried on one clock (store/refusals.py)."""

    __tablename__ = "refusal"

    target: str = Field(primary_key=True, max_length=80)
    error: str = Field(max_length=80)
    since: datetime = _now_column()
    next_try_at: datetime = _now_column()
    # When people were told of it (once per target and error); None while not yet.
    told_at: datetime | None = _optional_time()


# An open maintenance window: closed_at IS NULL (few rows, found by ends_at).
OPEN_WINDOW_SQL = "closed_at IS NULL"


class MaintenanceWindow(SQLModel, table=True):
    """A Disable with an end: at `ends_at` the bot enables the installation again, if it
    is still at `disabled_version` (nobody changed it since). Closing (`closed_at`) is a
    conditional UPDATE, so one process ends each window (store/windows.py)."""

    __tablename__ = "maintenance_window"
    __table_args__ = (
        Index(
            "ix_maintenance_window_open",
            "ends_at",
            postgresql_where=text(OPEN_WINDOW_SQL),
            sqlite_where=text(OPEN_WINDOW_SQL),
        ),
        Index("ix_maintenance_window_installation", "installation_id", "closed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    installation_id: int = Field(foreign_key="installation.id")
    ends_at: datetime = _now_column()
    # The installation's version right after the Disable that opened the window.
    disabled_version: int
    created_by: str = Field(max_length=64)
    created_at: datetime = _now_column()
    closed_at: datetime | None = _optional_time()
    # "ended" (enabled by the window), "changed" (changed by someone since), "replaced".
    closed_reason: str | None = Field(default=None, max_length=16)


class UserEmail(SQLModel, table=True):
    """A Slack user's email as users.info last told it, shared by every process and asked
    again after a day (store/user_emails.py); email None when Slack gave none."""

    __tablename__ = "user_email"

    user_id: str = Field(primary_key=True, max_length=64)
    email: str | None = Field(default=None, max_length=254)
    fetched_at: datetime = _now_column()


class JobClaim(SQLModel, table=True):
    """Once per period: the insert that wins this unique key does the work."""

    __tablename__ = "job_claim"

    key: str = Field(primary_key=True, max_length=200)
    claimed_at: datetime = _now_column()
    claimed_by: str | None = Field(default=None, max_length=64)


class Meta(SQLModel, table=True):
    """Small facts about the database itself, such as the vault's key canary."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str | None = Field(default=None, sa_column=Column(EncryptedSecret(), nullable=True))


class DecidePreview(SQLModel, table=True):
    """A previewed decide-from-a-list: the (installation id, version) pairs that submitting
    it may change, too many for a modal's private_metadata. Deleted once submitted; a
    day old, swept by the next preview."""

    __tablename__ = "decide_preview"

    id: str = Field(primary_key=True, max_length=40)
    application_id: str = Field(max_length=200)
    action: str = Field(max_length=16)
    actor: str = Field(max_length=64)
    reason: str | None = None
    created_at: datetime = _now_column()
    pairs: list[list[int]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
