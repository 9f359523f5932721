"""One installation, and matching the applications and sites a command names."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import ColumnClause, ColumnElement, func, literal_column, or_, select
from sqlmodel import Session, col

from store.models import (
    Application,
    Installation,
    OutboxItem,
    OutboxKind,
    Site,
)
from store.queries.joined import (
    _ONE_INSTALLATION,
    _info,
    _joined,
)
from store.queries.results import (
    MAX_CANDIDATES,
    AppRef,
    InstallationInfo,
    SiteRef,
    UpstreamStatus,
    app_ref,
    site_ref,
)
from store.sqlutil import contains, fold_case


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
        _joined().where(
            col(Installation.application_id) == app_id, col(Installation.site_id) == site_id
        )
    ).first()
    return None if row is None else _info(row)


def _site_search(text: str) -> ColumnElement[bool]:
    return or_(
        col(Site.id) == text.strip(),
        col(Site.urn) == text.strip(),
        col(Site.dfe_number) == text.strip(),
        contains(fold_case(Site.name), text.strip().lower()),
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
    return [
        app_ref(a)
        for a in session.scalars(
            select(Application)
            .where(contains(fold_case(Application.name), needle))
            .order_by(Application.name)
            .limit(MAX_CANDIDATES)
        )
    ]


def _name_is(needle: str) -> ColumnElement[bool]:
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
    kelvin: ColumnClause[str] = literal_column("'\u212a'")
    ascii_k: ColumnClause[str] = literal_column("'k'")
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
        .order_by(col(OutboxItem.id).desc())
        .limit(1)
    ).first()
    if row is None or row.id is None:
        return None
    status = "failed" if row.failed else ("applied" if row.done_at else "waiting")
    decision = str((row.payload or {}).get("type", ""))
    return UpstreamStatus(status, decision, row.attempts, row.last_error, row.id)
