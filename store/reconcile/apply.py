"""Applying a reconciliation with SIMS ID's list: set-based, and one difference at a time.

The same rules as the lifecycle's one-at-a-time moves (compare-and-set on the version,
one audit row per change, credentials issued on the move to enabled and the secret
destroyed on removal, the install message refreshed in place), written as a handful of
statements for the whole list: a temporary table of the moves, one UPDATE ... FROM it per
kind of move, and multi-row INSERTs for audit, credential and outbox rows. Nothing is
sent upstream: SIMS ID is where these changes come from.

Every change of state here is a move of the lifecycle's rule table
(store/lifecycle/rules.py, MOVES), made with the lifecycle's own parts (`Lifecycle.steps`),
so this module holds no rule of its own about states. `reconcile_one_by_one` makes the
same differences through the one-installation path: the reference the set-based apply
must end equal to (tests/test_reconcile_equals_single.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from store import messages
from store.lifecycle import Lifecycle
from store.lifecycle.base import Steps
from store.lifecycle.bulk import upsert_site_labels
from store.lifecycle.domain import SIMS_ID
from store.lifecycle.rules import (
    MOVES,
    Credentials,
    MoveName,
    apply_credentials,
    credentials_for,
    installation_row,
    message_status,
    move_audit,
)
from store.lifecycle.slugs import free_slug
from store.lifecycle.tally import counting, tally
from store.models import (
    REMOVAL_REQUEST_OPEN,
    Application,
    AuditEntry,
    Installation,
    MessageStatus,
)
from store.reconcile import writes
from store.reconcile.types import Applied, Comparison, Difference, Kind, Listed, Pair
from store.reconcile.writes import (
    AUDIT_COLUMNS,
    LISTED_DETAIL,
    audit_row,
    listed_state,
    lists_a_key,
    row_of,
)
from store.sqlutil import insert_ignore, load_rows, table_of

_ROWS_CHUNK = 5_000

_moves_metadata = MetaData()
MOVE_TABLE = Table(
    "reconcile_move",
    _moves_metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("step", String(24), nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)

# The move (rules.MOVES) each kind of difference makes.
MOVE_OF_KIND = {
    Kind.GONE: MoveName.UNINSTALLED,
    Kind.APPROVED: MoveName.APPROVED_IN_SIMS_ID,
    Kind.DISABLED: MoveName.DISABLED_IN_SIMS_ID,
}


def reconcile(
    lifecycle: Lifecycle, session: Session, comparison: Comparison, *, notify: bool = False
) -> Applied:
    """Make the bot agree with SIMS ID's list, set-based: one audited change by SIMS ID per
    difference, install messages refreshed in place, new installations posted only with
    `notify`, and no decision sent upstream (SIMS ID is where the change is from)."""
    with counting(session):
        return Reconciliation(lifecycle.steps).reconcile(session, comparison, notify=notify)


def reconcile_one_by_one(
    lifecycle: Lifecycle, session: Session, comparison: Comparison, *, notify: bool = False
) -> Applied:
    """`reconcile`, one difference at a time: the reference it must end equal to."""
    with counting(session):
        return Reconciliation(lifecycle.steps).reconcile_one_by_one(
            session, comparison, notify=notify
        )


def reinstall(d: Difference) -> MoveName:
    """The move of a listed installation the bot holds as removed: a new cycle."""
    return MoveName.REINSTALLED_ENABLED if d.listed_enabled else MoveName.REINSTALLED


def apply(
    session: Session,
    comparison: Comparison,
    *,
    actor: str,
    now: datetime,
    default_channel: str | None,
    notify: bool,
) -> Applied:
    """Make the bot agree with the list compared in `comparison`, in the caller's transaction."""
    session.flush()
    conn = session.connection()
    dml: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = Applied()
    new = comparison.of(Kind.NEW)
    unknown = [d for d in new if d.installation_id is None]
    result.registered = _register_applications(session, unknown, now)
    _upsert_sites(conn, dml, [row_of(d) for d in new], now)

    created = _insert_installations(conn, dml, unknown, now, actor=actor, notify=notify)
    moves = [(d, reinstall(d)) for d in new if d.installation_id is not None]
    moves += [(d, MOVE_OF_KIND[d.kind]) for d in comparison.differences if d.kind in MOVE_OF_KIND]
    moved = _move(conn, moves, now=now, actor=actor, notify=notify)

    audit: list[tuple[Any, ...]] = []
    ids: dict[Pair, int] = {}
    for d in unknown:
        inst_id = created.get((d.application_id, d.site_id))
        if inst_id is None:
            result.skipped.append(d)
            continue
        ids[(d.application_id, d.site_id)] = inst_id
        target = listed_state(row_of(d))
        tally(session, d.application_id, None, target)
        audit.append(audit_row(inst_id, now, actor, MOVES[MoveName.INSTALLED].action, None, target))
        result.changed[Kind.NEW] += 1
    for d, step in moves:
        assert d.installation_id is not None
        if d.installation_id not in moved:
            result.skipped.append(d)
            continue
        ids[(d.application_id, d.site_id)] = d.installation_id
        move = MOVES[step]
        # Moved at the version compared, so from the state compared.
        tally(session, d.application_id, d.bot_state, move.target)
        rows_of_move = move_audit(
            d.installation_id,
            move,
            at=now,
            actor=actor,
            source=d.bot_state,
            detail=LISTED_DETAIL,
            withdrawn=moved[d.installation_id].removal_requested_by,
        )
        audit += [tuple(r[c] for c in AUDIT_COLUMNS) for r in rows_of_move]
        result.changed[d.kind] += 1

    # Each move's credential effect; listed credentials (below) replace the bot's own.
    effects = [
        (ids[d.application_id, d.site_id], Credentials.ISSUE)
        for d in unknown
        if (d.application_id, d.site_id) in ids and d.listed_enabled and not lists_a_key(d)
    ]
    for d, step in moves:
        effect = MOVES[step].credentials
        if d.installation_id in moved and (effect is Credentials.DESTROY or not lists_a_key(d)):
            effects.append((d.installation_id, effect))
    apply_credentials(conn, effects, now)

    skipped_pairs = {(d.application_id, d.site_id) for d in result.skipped}
    credentials, audited = writes.listed_credentials(comparison, ids, skipped_pairs, now, actor)
    audit += audited
    result.changed[Kind.CREDENTIALS] += len(credentials)
    writes.store_listed_credentials(conn, credentials, now)

    load_rows(conn, table_of(AuditEntry), audit, AUDIT_COLUMNS)
    writes.refresh_messages(
        conn, dml, moved.values(), created, unknown, now, default_channel, notify=notify
    )
    # Rows changed under the ORM's feet: whatever it holds must be read again.
    session.expire_all()
    return result


def _register_applications(session: Session, unknown: list[Difference], now: datetime) -> list[str]:
    """Applications the bot has not seen yet, registered with defaults (as events do)."""
    names = {d.application_id: d.application_name for d in unknown}
    if not names:
        return []
    apps = table_of(Application)
    known = set(session.execute(select(apps.c.id).where(apps.c.id.in_(list(names)))).scalars())
    registered = []
    for app_id, name in sorted(names.items()):
        if app_id in known:
            continue
        row = {
            "id": app_id,
            "name": name,
            "slug": free_slug(session, name, app_id),
            "created_at": now,
        }
        if insert_ignore(session, Application, [row]):
            registered.append(app_id)
    return registered


def _upsert_sites(conn: Connection, dml: Any, listed: list[Listed], now: datetime) -> None:
    labels = {r.site_id: (r.site_name, r.site_urn, r.site_dfe_number) for r in listed}
    if not labels:
        return
    writes.chunked_execute(
        conn,
        upsert_site_labels(dml),
        [
            {"id": site, "name": n, "urn": u, "dfe_number": d, "updated_at": now}
            for site, (n, u, d) in labels.items()
        ],
    )


def _insert_installations(
    conn: Connection,
    dml: Any,
    unknown: list[Difference],
    now: datetime,
    *,
    actor: str,
    notify: bool,
) -> dict[Pair, int]:
    """Installations the bot never heard of; returns their ids (missing: another
    transaction stored the same one meanwhile)."""
    if not unknown:
        return {}
    inst = table_of(Installation)
    stmt = (
        dml.insert(inst)
        .on_conflict_do_nothing()
        .returning(inst.c.id, inst.c.application_id, inst.c.site_id)
    )
    values = [
        installation_row(
            d.application_id,
            d.site_id,
            state=listed_state(row_of(d)),
            version=1,
            now=now,
            actor=actor,
            status=message_status(notify),
            upstream_changed_at=now,
        )
        for d in unknown
    ]
    created: dict[Pair, int] = {}
    for start in range(0, len(values), _ROWS_CHUNK):
        for row in conn.execute(stmt, values[start : start + _ROWS_CHUNK]):
            created[(row.application_id, row.site_id)] = row.id
    return created


def _move(
    conn: Connection,
    moves: list[tuple[Difference, MoveName]],
    *,
    now: datetime,
    actor: str,
    notify: bool,
) -> dict[int, writes.Moved]:
    """Compare-and-set every move, one UPDATE per step; returns the installations moved
    (one whose version changed since the comparison is left alone)."""
    if not moves:
        return {}
    if conn.dialect.name == "sqlite":
        MOVE_TABLE.drop(conn, checkfirst=True)
    MOVE_TABLE.create(conn)
    load_rows(conn, MOVE_TABLE, [(d.installation_id, d.version, step) for d, step in moves])
    inst = table_of(Installation)
    # Any change of state withdraws an open two-person removal request (rules.MOVES).
    requests: dict[int, str] = {
        i: who
        for i, who in conn.execute(
            select(inst.c.id, inst.c.removal_requested_by)
            .select_from(inst.join(MOVE_TABLE, MOVE_TABLE.c.id == inst.c.id))
            .where(REMOVAL_REQUEST_OPEN)  # a void one was withdrawn already
        )
    }
    moved: dict[int, writes.Moved] = {}
    for step in sorted({step for _, step in moves}):
        # SIMS ID's change is as new as the list: an older event changes nothing after it.
        values = MOVES[step].values(now=now, actor=actor, notify=notify)
        values |= {"version": inst.c.version + 1, "upstream_changed_at": now}
        stmt = (
            update(inst)
            .where(
                and_(
                    inst.c.id == MOVE_TABLE.c.id,
                    inst.c.version == MOVE_TABLE.c.version,
                    MOVE_TABLE.c.step == step,
                )
            )
            .values(values)
            .returning(
                inst.c.id, inst.c.application_id, inst.c.message_status, inst.c.message_channel
            )
        )
        for row in conn.execute(stmt):
            moved[row.id] = writes.Moved(
                row.id,
                row.application_id,
                MessageStatus(row.message_status),
                row.message_channel,
                requests.get(row.id),
            )
    if conn.dialect.name == "sqlite":
        MOVE_TABLE.drop(conn)
    else:
        conn.exec_driver_sql("DROP TABLE reconcile_move")
    return moved


@dataclass
class Reconciliation:
    """Agreeing with SIMS ID's list: set-based, and one difference at a time."""

    steps: Steps

    def reconcile(
        self, session: Session, comparison: Comparison, *, notify: bool = False
    ) -> Applied:
        """Make the bot agree with SIMS ID's list, set-based: one audited change by SIMS ID
        per difference, install messages refreshed in place, new installations posted only
        with `notify`, and no decision sent upstream (SIMS ID is where the change is from)."""
        return apply(
            session,
            comparison,
            actor=SIMS_ID,
            now=self.steps.clock(),
            default_channel=self.steps.default_channel,
            notify=notify,
        )

    def reconcile_one_by_one(
        self, session: Session, comparison: Comparison, *, notify: bool = False
    ) -> Applied:
        """`reconcile`, one difference at a time through the one-installation path (the
        moves of rules.MOVES as every other change makes them): the reference that the
        set-based apply must end equal to (tests/test_reconcile_equals_single.py)."""
        now = self.steps.clock()
        result = Applied()
        ids: dict[Pair, int] = {}
        skipped: set[Pair] = set()
        dml: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        channel = self.steps.default_channel
        for d in comparison.differences:
            pair = (d.application_id, d.site_id)
            if d.kind is Kind.CREDENTIALS:
                continue  # once every move is made, below
            if d.kind is Kind.NEW:
                _upsert_sites(session.connection(), dml, [row_of(d)], now)
            if d.installation_id is None:
                inst_id = self._install_listed(session, row_of(d), now, notify=notify, into=result)
                if inst_id is None:
                    result.skipped.append(d)
                    skipped.add(pair)
                    continue
                ids[pair] = inst_id
                result.changed[Kind.NEW] += 1
                continue
            move = MOVES[reinstall(d) if d.kind is Kind.NEW else MOVE_OF_KIND[d.kind]]
            inst = session.get(Installation, d.installation_id, populate_existing=True)
            moved = (
                inst is not None
                and inst.version == d.version
                and self.steps.move(
                    session,
                    inst,
                    move,
                    actor=SIMS_ID,
                    detail=LISTED_DETAIL,
                    notify=notify,
                    follow_up=False,
                    also={"upstream_changed_at": now},
                )
            )
            if not moved:
                result.skipped.append(d)
                skipped.add(pair)
                continue
            ids[pair] = d.installation_id
            # Nothing upstream: SIMS ID is where the change is from.
            messages.refresh(session, d.installation_id, default_channel=channel, now=now)
            result.changed[d.kind] += 1
        credentials, audited = writes.listed_credentials(comparison, ids, skipped, now, SIMS_ID)
        for row in audited:
            session.add(AuditEntry(**dict(zip(AUDIT_COLUMNS, row, strict=True))))
        result.changed[Kind.CREDENTIALS] += len(credentials)
        writes.store_listed_credentials(session.connection(), credentials, now)
        session.flush()
        session.expire_all()
        result.registered.sort()
        return result

    def _install_listed(
        self, session: Session, listed: Listed, now: datetime, *, notify: bool, into: Applied
    ) -> int | None:
        """Store an installation new to the bot as the list has it; None when another
        transaction stored it meanwhile."""
        known = session.get(Application, listed.application_id) is not None
        app = self.steps.upsert_application(session, listed.application_id, listed.application_name)
        if not known:
            into.registered.append(app.id)
        target = listed_state(listed)
        row = installation_row(
            app.id,
            listed.site_id,
            state=target,
            version=1,
            now=now,
            actor=SIMS_ID,
            status=message_status(notify),
            upstream_changed_at=now,
        )
        if not insert_ignore(session, Installation, [row]):
            return None
        inst = session.scalars(
            select(Installation).where(
                col(Installation.application_id) == app.id,
                col(Installation.site_id) == listed.site_id,
            )
        ).one()
        assert inst.id is not None
        tally(session, app.id, None, target)
        self.steps.audit(
            session,
            inst,
            actor=SIMS_ID,
            action=MOVES[MoveName.INSTALLED].action,
            to_state=target,
            detail=LISTED_DETAIL,
        )
        apply_credentials(session.connection(), [(inst.id, credentials_for(target))], now)
        messages.refresh(session, inst.id, default_channel=self.steps.default_channel, now=now)
        return inst.id
