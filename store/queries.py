"""Read-only queries for the Slack side, answering with plain frozen dataclasses.

Every listing is paged with limit/offset over an indexed order, so a page costs about
the same at 200,000 installations as at 20.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import bindparam, exists, func, literal_column, or_, select
from sqlmodel import Session, col

from store.models import (
    Application,
    AuditEntry,
    Installation,
    OutboxItem,
    OutboxKind,
    Site,
    State,
    UTCDateTime,
    utcnow,
)
from store.sqlutil import fold_case

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


@dataclass(frozen=True)
class AppSummary:
    app: AppRef
    pending: int
    enabled: int
    disabled: int


@dataclass(frozen=True)
class CustomerSummary:
    site: SiteRef
    installations: tuple[InstallationInfo, ...]


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


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    offset: int
    limit: int
    has_more: bool

    @property
    def has_previous(self) -> bool:
        return self.offset > 0


def _page(rows: list[T], offset: int, limit: int) -> Page[T]:
    return Page(tuple(rows[:limit]), offset, limit, len(rows) > limit)


def app_ref(app: Application) -> AppRef:
    return AppRef(app.id, app.name, app.slug, app.channel, app.bypass_auth, app.sims_primary)


def site_ref(site: Site) -> SiteRef:
    return SiteRef(site.id, site.name, site.urn, site.dfe_number)


# Listings read plain columns, not ORM entities: a page of 20 customers is 200 joined
# rows, and building three tracked objects per row cost more than the query itself.
_INFO_COLUMNS: tuple[Any, ...] = (
    Installation.id,
    Installation.state,
    Installation.version,
    Installation.created_at,
    Installation.changed_at,
    Installation.changed_by,
    Installation.message_channel,
    Installation.message_ts,
    Installation.reminders_sent,
    Application.id,
    Application.name,
    Application.slug,
    Application.channel,
    Application.bypass_auth,
    Application.sims_primary,
    Site.id,
    Site.name,
    Site.urn,
    Site.dfe_number,
)


def _infos(rows: Iterable[Any]) -> list[InstallationInfo]:
    """InstallationInfos from rows of `_joined()`; rows of the same application or site
    share one AppRef or SiteRef (a customers page is 200 rows over 10 apps, 20 sites)."""
    apps: dict[str, AppRef] = {}
    sites: dict[str, SiteRef] = {}
    return [_info(row, apps, sites) for row in rows]


def _info(
    row: Any, apps: dict[str, AppRef] | None = None, sites: dict[str, SiteRef] | None = None
) -> InstallationInfo:
    """An InstallationInfo from one row of `_joined()`."""
    (
        inst_id,
        state,
        version,
        created_at,
        changed_at,
        changed_by,
        message_channel,
        message_ts,
        reminders_sent,
        app_id,
        app_name,
        slug,
        channel,
        bypass_auth,
        sims_primary,
        site_id,
        site_name,
        urn,
        dfe_number,
    ) = row
    app = None if apps is None else apps.get(app_id)
    if app is None:
        app = AppRef(app_id, app_name, slug, channel, bypass_auth, sims_primary)
        if apps is not None:
            apps[app_id] = app
    site = None if sites is None else sites.get(site_id)
    if site is None:
        site = SiteRef(site_id, site_name, urn, dfe_number)
        if sites is not None:
            sites[site_id] = site
    return InstallationInfo(
        id=inst_id,
        app=app,
        site=site,
        state=state if isinstance(state, State) else State(state),
        version=version,
        created_at=created_at,
        changed_at=changed_at,
        changed_by=changed_by,
        message_channel=message_channel,
        message_ts=message_ts,
        reminders_sent=reminders_sent,
    )


# Built once: statements are immutable, and building one costs about as much as running
# a small query.
_JOINED: Any = (
    select(*_INFO_COLUMNS)
    .select_from(Installation)
    .join(Application, Application.id == Installation.application_id)  # type: ignore[arg-type]
    .join(Site, Site.id == Installation.site_id)  # type: ignore[arg-type]
)
_SITE_COLUMNS: tuple[Any, ...] = (Site.id, Site.name, Site.urn, Site.dfe_number)
_HAS_LIVE_INSTALLATION: Any = exists().where(
    col(Installation.site_id) == col(Site.id),
    col(Installation.state).in_(LIVE_STATES),
)

# app_installations: the page's sites, then their rows. The sites are said of the site
# too in the second, so that PostgreSQL fetches those few by key rather than hashing
# the whole site table for the join.
_APP_PAGE_SITES: Any = (
    select(col(Site.id))
    .where(
        exists().where(
            col(Installation.site_id) == col(Site.id),
            col(Installation.application_id) == bindparam("app_id"),
            col(Installation.state).in_(LIVE_STATES),
        )
    )
    .order_by(func.lower(Site.name), Site.id)
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)
_APP_PAGE_ROWS: Any = _JOINED.where(
    col(Installation.application_id) == bindparam("app_id"),
    col(Installation.site_id).in_(bindparam("site_ids", expanding=True)),
    col(Site.id).in_(bindparam("site_ids", expanding=True)),
)
_ONE_INSTALLATION: Any = _JOINED.where(col(Installation.id) == bindparam("installation_id"))
_PENDING_PAGE: Any = (
    _JOINED.where(col(Installation.state) == State.PENDING)
    .order_by(Installation.created_at, Installation.id)
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)


def _joined() -> Any:
    return _JOINED


def installation(session: Session, installation_id: int) -> InstallationInfo | None:
    """One installation with its application, site and upstream status."""
    row = session.execute(_ONE_INSTALLATION, {"installation_id": installation_id}).first()
    if row is None:
        return None
    info = _info(row)
    status = upstream_status(session, installation_id)
    return info if status is None else _with_upstream(info, status)


def _with_upstream(info: InstallationInfo, status: UpstreamStatus) -> InstallationInfo:
    return replace(info, upstream=status)


def find_installation(session: Session, app_id: str, site_id: str) -> InstallationInfo | None:
    row = session.execute(
        _joined().where(Installation.application_id == app_id, Installation.site_id == site_id)
    ).first()
    return None if row is None else _info(row)


def list_applications(session: Session) -> list[AppRef]:
    return [app_ref(a) for a in session.scalars(select(Application).order_by(Application.name))]


def app_summaries(session: Session, *, offset: int = 0, limit: int = 20) -> Page[AppSummary]:
    """My Applications: each application with its pending, enabled and disabled counts."""
    apps = list(
        session.scalars(
            select(Application)
            .order_by(func.lower(Application.name), Application.id)
            .offset(offset)
            .limit(limit + 1)
        )
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    if apps:
        for app_id, state, count in session.execute(
            select(col(Installation.application_id), col(Installation.state), func.count())
            .where(Installation.application_id.in_([a.id for a in apps[:limit]]))  # type: ignore[attr-defined]
            .group_by(Installation.application_id, Installation.state)
        ):
            counts[app_id][state] = count
    return _page(
        [
            AppSummary(
                app_ref(a),
                counts[a.id].get(State.PENDING, 0),
                counts[a.id].get(State.ENABLED, 0),
                counts[a.id].get(State.DISABLED, 0),
            )
            for a in apps
        ],
        offset,
        limit,
    )


def app_installations(
    session: Session, app_id: str, *, offset: int = 0, limit: int = 20
) -> Page[InstallationInfo]:
    """One application's customers (not removed), by site name.

    The page is chosen by walking sites in name order (an index) and keeping those with
    a live installation of the app (a probe of the app-and-site index), so the first
    pages cost the same whatever the application's size: joining first and then sorting
    would sort every one of its installations for each page.
    """
    params = {"app_id": app_id, "offset": offset, "limit": limit + 1}
    site_ids = list(session.scalars(_APP_PAGE_SITES, params))
    if not site_ids:
        return _page([], offset, limit)
    rows = session.execute(_APP_PAGE_ROWS, {"app_id": app_id, "site_ids": site_ids}).all()
    by_site = {info.site.id: info for info in _infos(rows) if info.state in LIVE_STATES}
    return _page([by_site[s] for s in site_ids if s in by_site], offset, limit)


def customer_installations(session: Session, site_id: str) -> list[InstallationInfo]:
    """One customer's applications (not removed), by application name."""
    rows = session.execute(
        _joined()
        .where(Installation.site_id == site_id, Installation.state.in_(LIVE_STATES))  # type: ignore[attr-defined]
        .order_by(func.lower(Application.name))
    ).all()
    return _infos(rows)


def _site_search(text: str) -> Any:
    needle = text.strip().lower()
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(
        col(Site.id) == text.strip(),
        col(Site.urn) == text.strip(),
        col(Site.dfe_number) == text.strip(),
        fold_case(Site.name).like(pattern, escape="\\"),
    )


def customers(
    session: Session, *, search: str | None = None, offset: int = 0, limit: int = 20
) -> Page[CustomerSummary]:
    """My Customers: sites with at least one live installation, each with its applications."""
    query = select(*_SITE_COLUMNS).where(_HAS_LIVE_INSTALLATION)
    if search and search.strip():
        query = query.where(_site_search(search))
    sites = [
        SiteRef(*row)
        for row in session.execute(
            query.order_by(func.lower(Site.name), Site.id).offset(offset).limit(limit + 1)
        )
    ]
    by_site: dict[str, list[InstallationInfo]] = defaultdict(list)
    if sites:
        # By site alone, removed ones dropped here: with a state condition too, SQLite
        # (no statistics) prefers a state index and reads every live installation.
        shown = [s.id for s in sites[:limit]]
        rows = session.execute(
            _joined()
            .where(col(Installation.site_id).in_(shown), col(Site.id).in_(shown))
            .order_by(func.lower(Application.name))
        ).all()
        for info in _infos(rows):
            if info.state in LIVE_STATES:
                by_site[info.site.id].append(info)
    return _page([CustomerSummary(s, tuple(by_site[s.id])) for s in sites], offset, limit)


def pending(session: Session, *, offset: int = 0, limit: int = 20) -> Page[InstallationInfo]:
    """Installations waiting for approval, the longest waiting first."""
    rows = session.execute(_PENDING_PAGE, {"offset": offset, "limit": limit + 1}).all()
    return _page(_infos(rows), offset, limit)


def pending_counts(session: Session) -> list[PendingCount]:
    """Pending installations per application, aggregated in SQL; most waiting first."""
    counted = (
        select(
            col(Installation.application_id),
            func.count().label("n"),
            func.min(col(Installation.created_at)).label("oldest"),
        )
        .where(col(Installation.state) == State.PENDING)
        .group_by(col(Installation.application_id))
        .subquery()
    )
    rows = session.execute(
        select(Application, counted.c.n, counted.c.oldest)
        .join(counted, counted.c.application_id == Application.id)
        .order_by(counted.c.n.desc(), Application.name)
    ).all()
    to_utc = UTCDateTime().process_result_value
    return [
        PendingCount(app_ref(app), int(n), to_utc(oldest, None) or utcnow())
        for app, n, oldest in rows
    ]


def audit(
    session: Session,
    *,
    app_id: str,
    site_id: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> Page[AuditLine]:
    """The latest audit entries for an application, or one of its installations."""
    query = (
        select(AuditEntry, col(Application.name), col(Site.name))
        .join(Installation, col(Installation.id) == col(AuditEntry.installation_id))
        .join(Application, col(Application.id) == col(Installation.application_id))
        .join(Site, col(Site.id) == col(Installation.site_id))
        .where(col(Installation.application_id) == app_id)
    )
    if site_id is not None:
        query = query.where(col(Installation.site_id) == site_id)
    rows = session.execute(
        query.order_by(AuditEntry.id.desc()).offset(offset).limit(limit + 1)  # type: ignore[union-attr]
    ).all()
    return _page(
        [
            AuditLine(e.id or 0, e.at, e.actor, e.action, e.from_state, e.to_state, e.detail, a, s)
            for e, a, s in rows
        ],
        offset,
        limit,
    )


def match_apps(session: Session, text: str) -> list[AppRef]:
    """Applications whose id, slug or name is `text` (any case); else whose name contains it."""
    needle = text.strip().lower()
    if not needle:
        return []
    exact = session.scalars(
        select(Application).where(
            or_(
                fold_case(Application.id) == needle,
                col(Application.slug) == needle,
                fold_case(Application.name) == needle,
            )
        )
    ).all()
    if exact:
        return [app_ref(a) for a in exact]
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return [
        app_ref(a)
        for a in session.scalars(
            select(Application)
            .where(fold_case(Application.name).like(pattern, escape="\\"))
            .order_by(Application.name)
            .limit(MAX_CANDIDATES)
        )
    ]


def _name_is(needle: str) -> Any:
    """fold_case(Site.name) == needle, case-insensitively, in a form an index can answer.

    fold_case() on SQLite is a Python function no index covers, so every lookup read
    every site. Only names of ASCII letters and the Kelvin sign can fold to an ASCII
    needle, and for those store.models.ASCII_NAME_SQL folds exactly as fold_case() does, from the
    ix_site_ascii_name index. Other needles keep the general comparison.
    """
    folded = needle.lower()
    if not folded.isascii():
        return fold_case(Site.name) == folded
    # The constants are written into the SQL, not bound: a planner matches an expression
    # index only against the same expression, literals included.
    kelvin: Any = literal_column("'\u212a'")
    ascii_k: Any = literal_column("'k'")
    return func.lower(func.replace(Site.name, kelvin, ascii_k)) == folded


def match_sites(session: Session, text: str) -> list[SiteRef]:
    """Sites whose id, URN, DfE number or name is `text`; else whose name contains it."""
    needle = text.strip()
    if not needle:
        return []
    exact = session.scalars(
        select(Site)
        .where(
            or_(
                col(Site.id) == needle,
                col(Site.urn) == needle,
                col(Site.dfe_number) == needle,
                _name_is(needle),
            )
        )
        .limit(MAX_CANDIDATES + 1)
    ).all()
    if exact:
        return [site_ref(s) for s in exact]
    return [
        site_ref(s)
        for s in session.scalars(
            select(Site)
            .where(_site_search(needle))
            .order_by(func.lower(Site.name))
            .limit(MAX_CANDIDATES + 1)
        )
    ]


def upstream_status(session: Session, installation_id: int) -> UpstreamStatus | None:
    """The latest decision sent (or being sent) upstream for one installation."""
    row = session.scalars(
        select(OutboxItem)
        .where(
            col(OutboxItem.installation_id) == installation_id,
            col(OutboxItem.kind) == OutboxKind.UPSTREAM,
        )
        .order_by(OutboxItem.id.desc())  # type: ignore[union-attr]
        .limit(1)
    ).first()
    if row is None or row.id is None:
        return None
    status = "failed" if row.failed else ("applied" if row.done_at else "waiting")
    decision = str((row.payload or {}).get("type", ""))
    return UpstreamStatus(status, decision, row.attempts, row.last_error, row.id)


def oldest_undelivered(session: Session, kind: OutboxKind) -> datetime | None:
    """When the oldest not-yet-delivered item of this kind was created (for /healthz)."""
    value = session.execute(
        select(func.min(col(OutboxItem.created_at))).where(
            col(OutboxItem.kind) == kind,
            col(OutboxItem.done_at).is_(None),
        )
    ).scalar()
    if value is None:
        return None
    return UTCDateTime().process_result_value(value, None)


def unposted_backlog(session: Session, channel: str) -> int:
    """How many installations in a channel still wait for their first message."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(OutboxItem)
            .join(Installation, Installation.id == OutboxItem.installation_id)  # type: ignore[arg-type]
            .where(
                col(OutboxItem.kind) == OutboxKind.MESSAGE,
                col(OutboxItem.channel) == channel,
                OutboxItem.done_at.is_(None),  # type: ignore[union-attr]
                Installation.message_ts.is_(None),  # type: ignore[union-attr]
            )
        )
        or 0
    )
