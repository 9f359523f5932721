"""The paged listings: applications, their customers, customers, pending approvals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from store.models import (
    REMOVAL_REQUEST_OPEN,
    Application,
    Installation,
    Site,
    State,
)
from store.queries.joined import (
    _APP_COUNTS,
    _APP_PAGE,
    _APPS_BY_NAME,
    _APPS_PAGE,
    _APPS_PAGE_ONLY,
    _CUSTOMERS_PAGE,
    _CUSTOMERS_PAGE_ONLY,
    _HAS_LIVE_INSTALLATION,
    _HAS_LIVE_INSTALLATION_ONLY,
    _PENDING_PAGE,
    _PENDING_PAGE_ONLY,
    _SITE_COLUMNS,
    _SITE_PAGE,
    _SITE_PAGE_ONLY,
    _SITE_ROWS,
    SITE_APP_STATES,
    SITE_APP_STATES_ONLY,
    SITE_KEY,
    _info,
    _infos,
    _joined,
)
from store.queries.lookups import _site_search
from store.queries.paging import Seek, cursor_value, fetch, page, seek
from store.queries.results import (
    AppRef,
    AppSummary,
    Cursor,
    CustomerApp,
    CustomerSummary,
    InstallationInfo,
    Page,
    SiteRef,
    app_ref,
)


def list_applications(session: Session) -> list[AppRef]:
    return [app_ref(a) for a in session.scalars(select(Application).order_by(Application.name))]


def app_summaries(
    session: Session,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = 20,
    only: Collection[str] | None = None,
) -> Page[AppSummary]:
    """My Applications: each application with its pending, enabled and disabled counts;
    with `only`, just those applications (an approver's)."""
    statements, params = _only(_APPS_PAGE, _APPS_PAGE_ONLY, {}, only)
    rows, more, previous = fetch(
        session, statements, params, after=after, before=before, limit=limit
    )
    apps = [AppRef(*row[:6]) for row in rows]
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    if apps:
        # Kept by the lifecycle: a few rows per application, however many installations.
        found = session.connection().execute(_APP_COUNTS, {"app_ids": [a.id for a in apps]})
        for app_id, state, count in found:
            counts[app_id][state] = count
    summaries = [
        AppSummary(
            a,
            counts[a.id].get(State.PENDING, 0),
            counts[a.id].get(State.ENABLED, 0),
            counts[a.id].get(State.DISABLED, 0),
        )
        for a in apps
    ]
    keys = [(cursor_value(row[6]), row[0]) for row in rows]
    return page(summaries, keys, limit, more, previous)


def app_installations(
    session: Session,
    app_id: str,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = 20,
) -> Page[InstallationInfo]:
    """One application's customers (not removed), by site name.

    The page is chosen by walking sites in name order (an index) from the cursor and
    keeping those with a live installation of the app (a probe of the app-and-site
    index), so every page costs the same whatever the application's size or the page's
    depth: joining first and then sorting would sort every one of its installations.
    """
    rows, more, previous = fetch(
        session, _APP_PAGE, {"app_id": app_id}, after=after, before=before, limit=limit
    )
    # One row per site (an application is installed once per site), read in the same
    # statement, so at the same moment, as the page's live installations: all live.
    apps: dict[str, AppRef] = {}
    sites: dict[str, SiteRef] = {}
    return page(
        [_info(row[1:-1], apps, sites) for row in rows],
        [(cursor_value(row[-1]), row[0]) for row in rows],
        limit,
        more,
        previous,
    )


def customer_installations(session: Session, site_id: str) -> list[InstallationInfo]:
    """One customer's applications (not removed), by application name."""
    rows = session.connection().execute(_SITE_ROWS, {"site_id": site_id}).all()
    return _infos(rows)


def customer_page(
    session: Session,
    site_id: str,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = 20,
    only: Collection[str] | None = None,
) -> Page[InstallationInfo]:
    """One customer's applications (not removed), a page of them, by application name;
    with `only`, just those applications."""
    statements, params = _only(_SITE_PAGE, _SITE_PAGE_ONLY, {"site_id": site_id}, only)
    rows, more, previous = fetch(
        session, statements, params, after=after, before=before, limit=limit
    )
    infos = _infos(row[:-1] for row in rows)
    keys = [(cursor_value(row[-1]), info.id) for row, info in zip(rows, infos, strict=True)]
    return page(infos, keys, limit, more, previous)


def customers(
    session: Session,
    *,
    search: str | None = None,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = 20,
    only: Collection[str] | None = None,
) -> Page[CustomerSummary]:
    """My Customers: sites with at least one live installation, each with its applications;
    with `only`, installations of those applications alone."""
    statements, params = _only(_CUSTOMERS_PAGE, _CUSTOMERS_PAGE_ONLY, {}, only)
    if search and search.strip():
        live, states = (
            (_HAS_LIVE_INSTALLATION, SITE_APP_STATES)
            if only is None
            else (_HAS_LIVE_INSTALLATION_ONLY, SITE_APP_STATES_ONLY)
        )
        base = select(*_SITE_COLUMNS, SITE_KEY, states).where(live, _site_search(search))
        statements = seek(base, SITE_KEY, col(Site.id))
    rows, more, previous = fetch(
        session, statements, params, after=after, before=before, limit=limit
    )
    # Column 5: each site's live (application id, state name) pairs, read with the site.
    app_ids = sorted({app_id for row in rows for app_id, _ in row[5]})
    found = session.connection().execute(_APPS_BY_NAME, {"app_ids": app_ids}) if app_ids else ()
    apps = {row[0]: AppRef(*row) for row in found}  # by name: the statement's order
    rank = {app_id: n for n, app_id in enumerate(apps)}
    # A page repeats the same few (application, state) pairs: each is made once.
    made: dict[tuple[str, str], CustomerApp] = {}

    def item(app_id: str, state: str) -> CustomerApp:
        if (app_id, state) not in made:
            made[app_id, state] = CustomerApp(apps[app_id], State[state])
        return made[app_id, state]

    return page(
        [
            CustomerSummary(
                SiteRef(*row[:4]),
                tuple(item(*pair) for pair in sorted(row[5], key=lambda pair: rank[pair[0]])),
            )
            for row in rows
        ],
        [(cursor_value(row[4]), row[0]) for row in rows],
        limit,
        more,
        previous,
    )


def pending(
    session: Session,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = 20,
    only: Collection[str] | None = None,
) -> Page[InstallationInfo]:
    """Installations waiting for approval, the longest waiting first; with `only`, of
    those applications alone."""
    statements, params = _only(_PENDING_PAGE, _PENDING_PAGE_ONLY, {}, only)
    rows, more, previous = fetch(
        session, statements, params, after=after, before=before, limit=limit
    )
    infos = _infos(rows)
    keys = [(cursor_value(i.created_at), i.id) for i in infos]
    return page(infos, keys, limit, more, previous)


def removal_requests(
    session: Session, *, limit: int = 10, only: Collection[str] | None = None
) -> list[InstallationInfo]:
    """Installations whose removal waits for a second admin, the oldest request first;
    with `only`, of those applications alone."""
    statement = _joined()
    if only is not None:
        statement = statement.where(col(Installation.application_id).in_(list(only)))
    rows = session.execute(
        statement.where(REMOVAL_REQUEST_OPEN)
        .order_by(col(Installation.removal_requested_at), col(Installation.id))
        .limit(limit)
    ).all()
    return _infos(rows)


def _only(
    every: Seek, some: Seek, params: dict[str, Any], only: Collection[str] | None
) -> tuple[Seek, dict[str, Any]]:
    """The statements for every application, or for those in `only` with its bind."""
    if only is None:
        return every, params
    return some, dict(params, only=sorted(only))
