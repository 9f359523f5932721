"""One installation, and matching the applications and sites a command names."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
)
from sqlmodel import Session, col

from store import windows
from store.models import (
    Application,
    Installation,
    OutboxItem,
    OutboxKind,
    Site,
    State,
)
from store.queries.joined import (
    _APP_COLUMNS,
    _ONE_INSTALLATION,
    _SITE_COLUMNS,
    _info,
    _joined,
)
from store.queries.results import (
    MAX_CANDIDATES,
    AppRef,
    InstallationInfo,
    SiteRef,
    UpstreamStatus,
)
from store.sqlutil import contains, fold_case, like_pattern


def installation(session: Session, installation_id: int) -> InstallationInfo | None:
    """One installation with its application, site and upstream status."""
    params = {"installation_id": installation_id}
    # Through the session, which first writes out a change of this unit of work (the
    # lifecycle's), so that what is read is the installation as it now stands.
    row = session.execute(_ONE_INSTALLATION, params).first()
    if row is None:
        return None
    info = _info(row)
    if info.state is State.DISABLED:
        info = replace(info, disabled_until=windows.disabled_until(session, installation_id))
    # Every click reads one of these before and after its change: prebuilt, and plain
    # columns rather than an OutboxItem built (with its JSON) for four of its fields.
    status = _upstream_status(session.connection().execute(_LATEST_UPSTREAM, params).first())
    return info if status is None else _with_upstream(info, status)


def _with_upstream(info: InstallationInfo, status: UpstreamStatus) -> InstallationInfo:
    return replace(info, upstream=status)


def find_installation(session: Session, app_id: str, site_id: str) -> InstallationInfo | None:
    row = session.execute(
        _joined().where(
            col(Installation.application_id) == app_id, col(Installation.site_id) == site_id
        )
    ).first()
    return None if row is None else _info(row)


def has_enabled(session: Session, site_id: str, only: Collection[str] | None = None) -> bool:
    """Whether any application of the site (with `only`, of those) is enabled (what
    "Disable all" would change)."""
    where = [col(Installation.site_id) == site_id, col(Installation.state) == State.ENABLED]
    if only is not None:
        where.append(col(Installation.application_id).in_(list(only)))
    query = select(exists().where(*where))
    return bool(session.connection().scalar(query))


def _site_search(text: str) -> ColumnElement[bool]:
    return or_(
        col(Site.id) == text.strip(),
        col(Site.urn) == text.strip(),
        col(Site.dfe_number) == text.strip(),
        contains(fold_case(Site.name), text.strip().lower()),
    )


# Built once: a listing names its application or site on every call, and building and
# caching a statement cost more than the query on these small tables.
_APPS_EXACT: Any = select(*_APP_COLUMNS).where(
    or_(
        fold_case(Application.id) == bindparam("needle"),
        col(Application.slug) == bindparam("needle"),
        fold_case(Application.name) == bindparam("needle"),
    )
)
_APPS_CONTAINING: Any = (
    select(*_APP_COLUMNS)
    .where(fold_case(Application.name).like(bindparam("pattern"), escape="\\"))
    .order_by(col(Application.name))
    .limit(MAX_CANDIDATES)
)


def match_apps(session: Session, text: str, *, exact_only: bool = False) -> list[AppRef]:
    """Applications whose id, slug or name is `text` (any case); else, unless `exact_only`,
    whose name contains it."""
    needle = text.strip().lower()
    if not needle:
        return []
    connection = session.connection()
    exact = connection.execute(_APPS_EXACT, {"needle": needle}).all()
    if not exact and not exact_only:
        exact = connection.execute(_APPS_CONTAINING, {"pattern": like_pattern(needle)}).all()
    return [AppRef(*row) for row in exact]


def _ascii_name_is() -> ColumnElement[bool]:
    """fold_case(Site.name) == :folded for an ASCII `folded`, in a form an index answers.

    fold_case() on SQLite is a Python function no index covers, so every lookup read
    every site. Only names of ASCII letters and the Kelvin sign can fold to an ASCII
    needle, and for those store.models.ASCII_NAME_SQL folds exactly as fold_case() does,
    from the ix_site_ascii_name index. Other needles keep the general comparison.
    """
    # The constants are written into the SQL, not bound: a planner matches an expression
    # index only against the same expression, literals included.
    kelvin: ColumnClause[str] = literal_column("'\u212a'")
    ascii_k: ColumnClause[str] = literal_column("'k'")
    return func.lower(func.replace(Site.name, kelvin, ascii_k)) == bindparam("folded")


def _sites(name_matches: ColumnElement[bool]) -> Any:
    """Sites whose id, URN or DfE number is :needle, or whose name matches."""
    return (
        select(*_SITE_COLUMNS)
        .where(
            or_(
                col(Site.id) == bindparam("needle"),
                col(Site.urn) == bindparam("needle"),
                col(Site.dfe_number) == bindparam("needle"),
                name_matches,
            )
        )
        .limit(MAX_CANDIDATES + 1)
    )


_SITES_EXACT_ASCII: Any = _sites(_ascii_name_is())
_SITES_EXACT: Any = _sites(fold_case(Site.name) == bindparam("folded"))
_SITES_CONTAINING: Any = _sites(
    fold_case(Site.name).like(bindparam("pattern"), escape="\\")
).order_by(func.lower(Site.name))


def match_sites(session: Session, text: str) -> list[SiteRef]:
    """Sites whose id, URN, DfE number or name is `text`; else whose name contains it."""
    needle = text.strip()
    if not needle:
        return []
    folded = needle.lower()
    connection = session.connection()
    exact_statement = _SITES_EXACT_ASCII if folded.isascii() else _SITES_EXACT
    found = connection.execute(exact_statement, {"needle": needle, "folded": folded}).all()
    if not found:
        found = connection.execute(
            _SITES_CONTAINING, {"needle": needle, "pattern": like_pattern(folded)}
        ).all()
    return [SiteRef(*row) for row in found]


_LATEST_UPSTREAM: Any = (
    select(
        col(OutboxItem.id),
        col(OutboxItem.failed),
        col(OutboxItem.done_at),
        col(OutboxItem.payload),
        col(OutboxItem.attempts),
        col(OutboxItem.last_error),
    )
    .where(
        col(OutboxItem.installation_id) == bindparam("installation_id"),
        col(OutboxItem.kind) == OutboxKind.UPSTREAM,
    )
    .order_by(col(OutboxItem.id).desc())
    .limit(1)
)


def _upstream_status(row: Any) -> UpstreamStatus | None:
    """The latest decision sent (or being sent) upstream, from a row of _LATEST_UPSTREAM."""
    if row is None:
        return None
    item_id, failed, done_at, payload, attempts, last_error = row
    status = "failed" if failed else ("applied" if done_at else "waiting")
    decision = str((payload or {}).get("type", ""))
    return UpstreamStatus(status, decision, attempts, last_error, item_id)
