"""The paged listings: applications, their customers, customers, pending approvals."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlmodel import Session, col

from store.models import (
    Application,
    Installation,
    InstallationCount,
    Site,
    State,
)
from store.queries.joined import (
    _APP_PAGE_ROWS,
    _APP_PAGE_SITES,
    _HAS_LIVE_INSTALLATION,
    _PENDING_PAGE,
    _SITE_COLUMNS,
    _infos,
    _joined,
)
from store.queries.lookups import _site_search
from store.queries.results import (
    LIVE_STATES,
    AppRef,
    AppSummary,
    CustomerSummary,
    InstallationInfo,
    Page,
    SiteRef,
    _page,
    app_ref,
)


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
        # Kept by the lifecycle: a few rows per application, however many installations.
        for app_id, state, count in session.execute(
            select(
                col(InstallationCount.application_id),
                col(InstallationCount.state),
                col(InstallationCount.count),
            ).where(col(InstallationCount.application_id).in_([a.id for a in apps[:limit]]))
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
        .where(col(Installation.site_id) == site_id, col(Installation.state).in_(LIVE_STATES))
        .order_by(func.lower(Application.name))
    ).all()
    return _infos(rows)


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


def removal_requests(session: Session, *, limit: int = 10) -> list[InstallationInfo]:
    """Installations whose removal waits for a second admin, the oldest request first."""
    rows = session.execute(
        # removal_requested_at is set with removal_requested_by, and indexed.
        _joined()
        .where(col(Installation.removal_requested_at).is_not(None))
        .order_by(col(Installation.removal_requested_at), col(Installation.id))
        .limit(limit)
    ).all()
    return _infos(rows)
