"""Installation rows joined with their application and site, as plain columns, and the
prebuilt statements the listings and lookups page over."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Exists, Row, Select, Subquery, and_, bindparam, exists, func, select
from sqlmodel import col

from store.models import (
    Application,
    Installation,
    InstallationCount,
    RemovalRequestStatus,
    Site,
    State,
    removal_request_status,
)
from store.queries.paging import Seek, joined, seek
from store.queries.results import (
    LIVE_STATES,
    AppRef,
    InstallationInfo,
    RemovalRequest,
    SiteRef,
    VoidRemoval,
)
from store.sqlutil import json_pairs, table_of

_APP_COLUMNS: tuple[Any, ...] = (
    Application.id,
    Application.name,
    Application.slug,
    Application.channel,
    Application.bypass_auth,
    Application.sims_primary,
)
_SITE_COLUMNS: tuple[Any, ...] = (Site.id, Site.name, Site.urn, Site.dfe_number)
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
    *_APP_COLUMNS,
    *_SITE_COLUMNS,
    Installation.change_reason,
    Installation.removal_requested_by,
    Installation.removal_requested_at,
    Installation.removal_reason,
    Installation.removal_voided_at,
)


def _infos(rows: Iterable[Row[*tuple[Any, ...]]]) -> list[InstallationInfo]:
    """InstallationInfos from rows of `_joined()`; rows of the same application or site
    share one AppRef or SiteRef (a customers page is 200 rows over 10 apps, 20 sites)."""
    apps: dict[str, AppRef] = {}
    sites: dict[str, SiteRef] = {}
    return [_info(row, apps, sites) for row in rows]


def _info(
    row: Row[*tuple[Any, ...]],
    apps: dict[str, AppRef] | None = None,
    sites: dict[str, SiteRef] | None = None,
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
        change_reason,
        removal_requested_by,
        removal_requested_at,
        removal_reason,
        removal_voided_at,
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
    removal = removal_request_status(removal_requested_at, removal_voided_at)
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
        change_reason=change_reason,
        removal=RemovalRequest(removal_requested_by, removal_requested_at, removal_reason)
        if removal is RemovalRequestStatus.OPEN
        else None,
        void_removal=VoidRemoval(removal_requested_by, removal_reason)
        if removal is RemovalRequestStatus.VOID
        else None,
    )


# Built once: statements are immutable, and building one costs about as much as running
# a small query.
_JOINED: Select[*tuple[Any, ...]] = (
    select(*_INFO_COLUMNS)
    .select_from(Installation)
    .join(Application, col(Application.id) == col(Installation.application_id))
    .join(Site, col(Site.id) == col(Installation.site_id))
)
_HAS_LIVE_INSTALLATION: Exists = exists().where(
    col(Installation.site_id) == col(Site.id),
    col(Installation.state).in_(LIVE_STATES),
)

# An application's customers: a page of sites by name (keyset, `seek`) with a live
# installation of it, and those installations, in one statement (`joined`): the page as
# a subquery, each of its sites joined to its row by index. On PostgreSQL a second
# statement with the page's ids would cost a round trip and CPU on both sides.
SITE_KEY: Any = func.lower(Site.name)


def _app_rows(page: Subquery) -> Select[Any]:
    """An application's installation at each of the page's sites, led by the site's id.

    Outer joins, so that the page stays the outer loop: given an inner join and the
    application's id, SQLite (no statistics) would walk all the application's
    installations and look each up in the page. Each page site has its row: the page
    was chosen for it in the same statement.
    """
    return (
        select(page.c.id, *_INFO_COLUMNS, page.c.k)
        .select_from(page)
        .outerjoin(
            Installation,
            and_(
                col(Installation.site_id) == page.c.id,
                col(Installation.application_id) == bindparam("app_id"),
            ),
        )
        .outerjoin(Application, col(Application.id) == col(Installation.application_id))
        .outerjoin(Site, col(Site.id) == page.c.id)
    )


_APP_PAGE: Seek = joined(
    seek(
        select(col(Site.id), SITE_KEY.label("k")).where(
            exists().where(
                col(Installation.site_id) == col(Site.id),
                col(Installation.application_id) == bindparam("app_id"),
                col(Installation.state).in_(LIVE_STATES),
            )
        ),
        SITE_KEY,
        col(Site.id),
    ),
    _app_rows,
)
_ONE_INSTALLATION: Select[*tuple[Any, ...]] = _JOINED.where(
    col(Installation.id) == bindparam("installation_id")
)
_PENDING_PAGE: Seek = seek(
    _JOINED.where(col(Installation.state) == State.PENDING),
    col(Installation.created_at),
    col(Installation.id),
)
APP_KEY: Any = func.lower(Application.name)
_APPS_PAGE: Seek = seek(select(*_APP_COLUMNS, APP_KEY), APP_KEY, col(Application.id))
_APP_COUNTS: Any = select(
    col(InstallationCount.application_id),
    col(InstallationCount.state),
    col(InstallationCount.count),
).where(col(InstallationCount.application_id).in_(bindparam("app_ids", expanding=True)))


# My Customers: a page of sites, each with the (application, state) of its live
# installations as one JSON array read in the same statement (a correlated aggregate,
# run only for the page's rows, by the site index), so a page is 20 rows, not 20 sites
# and then their 200 installations. The page's few applications are read apart, by name.
_SITE_APPS: Any = table_of(Installation).alias("site_apps")
SITE_APP_STATES: Any = (
    select(json_pairs(_SITE_APPS.c.application_id, _SITE_APPS.c.state))
    .where(_SITE_APPS.c.site_id == col(Site.id), _SITE_APPS.c.state.in_(LIVE_STATES))
    .scalar_subquery()
)
_APPS_BY_NAME: Any = (
    select(*_APP_COLUMNS)
    .where(col(Application.id).in_(bindparam("app_ids", expanding=True)))
    .order_by(func.lower(Application.name), col(Application.id))
)
_SITE_ROWS: Any = _JOINED.where(
    col(Installation.site_id) == bindparam("site_id"), col(Installation.state).in_(LIVE_STATES)
).order_by(func.lower(Application.name), col(Installation.id))
# One customer's applications a page at a time, by name; the key is read with the row
# (SQLite's lower() folds ASCII only, Python's everything: the cursor must be SQL's).
_SITE_PAGE: Seek = seek(
    _JOINED.add_columns(APP_KEY).where(
        col(Installation.site_id) == bindparam("site_id"),
        col(Installation.state).in_(LIVE_STATES),
    ),
    APP_KEY,
    col(Installation.id),
)
_CUSTOMERS_PAGE: Seek = seek(
    select(*_SITE_COLUMNS, SITE_KEY, SITE_APP_STATES).where(_HAS_LIVE_INSTALLATION),
    SITE_KEY,
    col(Site.id),
)

# The same listings for an application's approvers: only the applications in `only`
# (an expanding bind: the approver's applications, a handful).
ONLY: Any = bindparam("only", expanding=True)
_APPS_PAGE_ONLY: Seek = seek(
    select(*_APP_COLUMNS, APP_KEY).where(col(Application.id).in_(ONLY)),
    APP_KEY,
    col(Application.id),
)
_PENDING_PAGE_ONLY: Seek = seek(
    _JOINED.where(
        col(Installation.state) == State.PENDING, col(Installation.application_id).in_(ONLY)
    ),
    col(Installation.created_at),
    col(Installation.id),
)
_SITE_PAGE_ONLY: Seek = seek(
    _JOINED.add_columns(APP_KEY).where(
        col(Installation.site_id) == bindparam("site_id"),
        col(Installation.state).in_(LIVE_STATES),
        col(Installation.application_id).in_(ONLY),
    ),
    APP_KEY,
    col(Installation.id),
)
_HAS_LIVE_INSTALLATION_ONLY: Exists = exists().where(
    col(Installation.site_id) == col(Site.id),
    col(Installation.state).in_(LIVE_STATES),
    col(Installation.application_id).in_(ONLY),
)
SITE_APP_STATES_ONLY: Any = (
    select(json_pairs(_SITE_APPS.c.application_id, _SITE_APPS.c.state))
    .where(
        _SITE_APPS.c.site_id == col(Site.id),
        _SITE_APPS.c.state.in_(LIVE_STATES),
        _SITE_APPS.c.application_id.in_(ONLY),
    )
    .scalar_subquery()
)
_CUSTOMERS_PAGE_ONLY: Seek = seek(
    select(*_SITE_COLUMNS, SITE_KEY, SITE_APP_STATES_ONLY).where(_HAS_LIVE_INSTALLATION_ONLY),
    SITE_KEY,
    col(Site.id),
)


def _joined() -> Select[*tuple[Any, ...]]:
    return _JOINED
