"""The paged listings: applications, their customers, customers, pending approvals."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlmodel import Session, col

from store.models import (
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
    _CUSTOMERS_PAGE,
    _HAS_LIVE_INSTALLATION,
    _PENDING_PAGE,
    _SITE_COLUMNS,
    _SITE_PAGE,
    _SITE_ROWS,
    SITE_APP_STATES,
    SITE_KEY,
    _info,
    _infos,
    _joined,
)
from store.queries.lookups import _site_search
from store.queries.paging import cursor_value, fetch, page, seek
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
) -> Page[AppSummary]:
    """My Applications: each application with its pending, enabled and disabled counts."""
    rows, more, previous = fetch(session, _APPS_PAGE, {}, after=after, before=before, limit=limit)
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
) -> Page[InstallationInfo]:
    """One customer's applications (not removed), a page of them, by application name."""
    rows, more, previous = fetch(
        session, _SITE_PAGE, {"site_id": site_id}, after=after, before=before, limit=limit
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
) -> Page[CustomerSummary]:
    """My Customers: sites with at least one live installation, each with its applications."""
    statements = _CUSTOMERS_PAGE
    if search and search.strip():
        base = select(*_SITE_COLUMNS, SITE_KEY, SITE_APP_STATES).where(
            _HAS_LIVE_INSTALLATION, _site_search(search)
        )
        statements = seek(base, SITE_KEY, col(Site.id))
    rows, more, previous = fetch(session, statements, {}, after=after, before=before, limit=limit)
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
) -> Page[InstallationInfo]:
    """Installations waiting for approval, the longest waiting first."""
    rows, more, previous = fetch(
        session, _PENDING_PAGE, {}, after=after, before=before, limit=limit
    )
    infos = _infos(rows)
    keys = [(cursor_value(i.created_at), i.id) for i in infos]
    return page(infos, keys, limit, more, previous)


def removal_requests(session: Session, *, limit: int = 10) -> list[InstallationInfo]:
    """Installations whose removal waits for a second admin, the oldest request first."""
    rows = session.execute(
        # removal_requested_at is set while a request is open (NULL when void), and indexed.
        _joined()
        .where(col(Installation.removal_requested_at).is_not(None))
        .order_by(col(Installation.removal_requested_at), col(Installation.id))
        .limit(limit)
    ).all()
    return _infos(rows)
