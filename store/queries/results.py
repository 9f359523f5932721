"""The answers of the queries: plain frozen dataclasses, and pages of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from store.models import (
    Application,
    Site,
    State,
)

T = TypeVar("T")

LIVE_STATES = (State.PENDING, State.ENABLED, State.DISABLED)
MAX_CANDIDATES = 10


@dataclass(frozen=True)
class AppRef:
    id: str
    name: str
    slug: str
    channel: str | None
    bypass_auth: bool
    sims_primary: bool


@dataclass(frozen=True)
class SiteRef:
    id: str
    name: str
    urn: str | None
    dfe_number: str | None


@dataclass(frozen=True)
class UpstreamStatus:
    """Where the latest decision sent upstream stands."""

    status: str  # "applied", "waiting" or "failed"
    decision: str  # e.g. "installation.enabled"
    attempts: int
    last_error: str | None
    outbox_id: int


@dataclass(frozen=True)
class RemovalRequest:
    """An admin's request to remove an installation, waiting for a second admin."""

    requested_by: str
    requested_at: datetime
    reason: str | None


@dataclass(frozen=True)
class VoidRemoval:
    """A removal request void because its requester lost admin rights before a second
    admin confirmed it: a fresh request is needed."""

    requested_by: str
    reason: str | None


@dataclass(frozen=True)
class InstallationInfo:
    id: int
    app: AppRef
    site: SiteRef
    state: State
    version: int
    created_at: datetime
    changed_at: datetime
    changed_by: str | None
    message_channel: str | None
    message_ts: str | None
    reminders_sent: int = 0
    upstream: UpstreamStatus | None = None
    change_reason: str | None = None  # why the last change was made, if its author said
    removal: RemovalRequest | None = None
    # A request made void because its requester was no longer an admin when another
    # confirmed it (who, why): shown until a fresh request or the next change.
    void_removal: VoidRemoval | None = None
    # When a maintenance window enables it again (store/windows.py); None without one.
    disabled_until: datetime | None = None


@dataclass(frozen=True)
class AppSummary:
    app: AppRef
    pending: int
    enabled: int
    disabled: int


@dataclass(frozen=True)
class CustomerApp:
    """One application of a customer, as My Customers shows it: its name and state."""

    app: AppRef
    state: State


@dataclass(frozen=True)
class CustomerSummary:
    site: SiteRef
    installations: tuple[CustomerApp, ...]


@dataclass(frozen=True)
class PendingCount:
    app: AppRef
    count: int
    oldest: datetime


@dataclass(frozen=True)
class AuditLine:
    id: int
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    detail: str | None
    app_name: str
    site_name: str
    reason: str | None = None
    actor_email: str | None = None  # as Slack knew it when the entry was written


Cursor = tuple[str | int, str | int]
"""An item's place in a listing's order: (sort key, id), JSON-safe, made by the store.
A page button carries one, so the next page starts where the last one stopped (keyset
paging): the last page of a listing costs what the first does."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """Some items of a listing, `keys[i]` the place of `items[i]` in its order."""

    items: tuple[T, ...]
    limit: int
    has_more: bool  # items come after the last one
    has_previous: bool  # items come before the first one
    keys: tuple[Cursor, ...] = ()


def app_ref(app: Application) -> AppRef:
    return AppRef(app.id, app.name, app.slug, app.channel, app.bypass_auth, app.sims_primary)


def site_ref(site: Site) -> SiteRef:
    return SiteRef(site.id, site.name, site.urn, site.dfe_number)
