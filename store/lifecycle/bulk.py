"""SIMS ID install events in batches: the first event of an installation not stored yet
is written set-based; every other event takes the one-event path (events.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from store import outbox
from store.lifecycle.base import Steps
from store.lifecycle.domain import SIMS_ID, EventResult, EventType, InstallEvent
from store.lifecycle.events import OneEvent
from store.lifecycle.rules import MOVES, MoveName, installation_row, move_audit
from store.lifecycle.tally import tally
from store.messages import route
from store.models import (
    Application,
    AuditEntry,
    Installation,
    MessageStatus,
    ProcessedEvent,
    Site,
)
from store.sqlutil import table_of

_IN_CHUNK = 500  # ids per IN (...) list, well inside every driver's parameter limit


@dataclass(frozen=True)
class _AppFacts:
    bypass_auth: bool
    channel: str | None


def upsert_site_labels(dml: Any) -> Any:
    """INSERT sites, or update a site's name, URN and DfE number when one of them differs
    (`dml`: the dialect module whose insert() has on_conflict_do_update)."""
    sites = table_of(Site)
    stmt = dml.insert(sites)
    return stmt.on_conflict_do_update(
        index_elements=[sites.c.id],
        set_={
            "name": stmt.excluded.name,
            "urn": stmt.excluded.urn,
            "dfe_number": stmt.excluded.dfe_number,
            "updated_at": stmt.excluded.updated_at,
        },
        # URN and DfE number are labels; the row only changes when one of them does.
        where=or_(
            sites.c.name.is_distinct_from(stmt.excluded.name),
            sites.c.urn.is_distinct_from(stmt.excluded.urn),
            sites.c.dfe_number.is_distinct_from(stmt.excluded.dfe_number),
        ),
    )


class _BatchStatements:
    """The statements of apply_events, built once per dialect: building an upsert (its
    `excluded` alias above all) costs more than running it on a small batch."""

    def __init__(self, dialect: str) -> None:
        # Any: the two dialects' insert() differ in type, not in the upsert calls used here.
        dml: Any = postgresql if dialect == "postgresql" else sqlite
        events = table_of(ProcessedEvent)
        apps = table_of(Application)
        sites = table_of(Site)
        installs = table_of(Installation)
        ids: BindParameter[list[str]] = bindparam("ids", expanding=True)
        self.claim = dml.insert(events).on_conflict_do_nothing().returning(events.c.id)
        self.app_facts = select(apps.c.id, apps.c.bypass_auth, apps.c.channel).where(
            apps.c.id.in_(ids)
        )
        self.stored_pairs = select(installs.c.application_id, installs.c.site_id).where(
            installs.c.site_id.in_(ids)
        )
        self.upsert_sites = upsert_site_labels(dml).returning(sites.c.id)
        self.insert_installations = (
            dml.insert(installs)
            .on_conflict_do_nothing()
            .returning(installs.c.id, installs.c.application_id, installs.c.site_id)
        )
        audit = table_of(AuditEntry)
        # RETURNING makes SQLAlchemy send a batch as multi-row VALUES ("insertmanyvalues")
        # rather than one execution per row: many times faster on PostgreSQL.
        self.insert_audit = insert(audit).returning(audit.c.id)


_STATEMENTS: dict[str, _BatchStatements] = {}


def _statements(core: Connection) -> _BatchStatements:
    dialect = core.dialect.name
    built = _STATEMENTS.get(dialect)
    if built is None:
        built = _STATEMENTS[dialect] = _BatchStatements(dialect)
    return built


@dataclass
class BulkEvents:
    """Install events in batches, falling back to `one` where a batch cannot apply."""

    steps: Steps
    one: OneEvent

    def apply_events(
        self, session: Session, events: Sequence[InstallEvent], *, notify: bool = True
    ) -> list[EventResult]:
        """Apply install events in the order given, each exactly once; one outcome each.

        The same rules as one event at a time, in a few statements per batch for the
        common case, the first event of an installation not stored yet (a bulk import, a
        new install): those are written set-based. Any other event (an installation seen
        before or earlier in the batch, an application that bypasses authentication)
        takes the one-event path in its place in the order.
        """
        if not events:
            return []
        now = self.steps.clock()
        # The session's connection, in its transaction: Core statements skip the ORM
        # layer. Asked for once: asking the session costs about what a statement does.
        core = session.connection()
        fresh = self._claim_event_ids(core, events, now)
        outcomes = [EventResult.DUPLICATE] * len(events)
        todo = [(i, e) for i, e in enumerate(events) if e.id in fresh]
        apps = self._application_facts(session, core, [e for _, e in todo])
        stored = self._stored_pairs(core, {e.site_id for _, e in todo})
        batch: list[tuple[int, InstallEvent]] = []
        for index, event in todo:
            if event.id not in fresh:
                continue  # the same id earlier in this batch
            fresh.discard(event.id)
            pair = (event.application_id, event.site_id)
            if pair in stored or apps[event.application_id].bypass_auth:
                # Everything before it first, so that the order is kept.
                self._insert_first_events(session, core, batch, apps, now, outcomes, notify=notify)
                batch = []
                outcomes[index] = self.one.apply_claimed(session, event, now, notify=notify)
            else:
                batch.append((index, event))
                outcomes[index] = EventResult.ACCEPTED
            stored.add(pair)
        self._insert_first_events(session, core, batch, apps, now, outcomes, notify=notify)
        return outcomes

    def _claim_event_ids(
        self, core: Connection, events: Sequence[InstallEvent], now: datetime
    ) -> set[str]:
        """Record the event ids not seen before; returns those (the others are duplicates)."""
        rows = [{"id": i, "received_at": now} for i in dict.fromkeys(e.id for e in events)]
        return set(core.execute(_statements(core).claim, rows).scalars())

    def _application_facts(
        self, session: Session, core: Connection, events: Sequence[InstallEvent]
    ) -> dict[str, _AppFacts]:
        """Each application of the batch, registered with defaults if it is new."""
        wanted = list(dict.fromkeys(e.application_id for e in events))
        facts = {
            app_id: _AppFacts(bool(bypass), channel)
            for app_id, bypass, channel in core.execute(
                _statements(core).app_facts, {"ids": wanted}
            )
        }
        names = {e.application_id: e.application_name for e in reversed(events)}
        for app_id in wanted:
            if app_id not in facts:
                app = self.steps.upsert_application(session, app_id, names[app_id])
                facts[app_id] = _AppFacts(app.bypass_auth, app.channel)
        return facts

    def _stored_pairs(self, core: Connection, site_ids: set[str]) -> set[tuple[str, str]]:
        """(application id, site id) of every installation already stored at these sites."""
        pairs: set[tuple[str, str]] = set()
        chunk = sorted(site_ids)
        for start in range(0, len(chunk), _IN_CHUNK):
            rows = core.execute(
                _statements(core).stored_pairs, {"ids": chunk[start : start + _IN_CHUNK]}
            )
            pairs.update((a, s) for a, s in rows)
        return pairs

    def _insert_first_events(
        self,
        session: Session,
        core: Connection,
        batch: list[tuple[int, InstallEvent]],
        apps: dict[str, _AppFacts],
        now: datetime,
        outcomes: list[EventResult],
        *,
        notify: bool,
    ) -> None:
        """First events of installations not stored yet: sites, installations, audit rows
        and outbox rows, one statement each for the whole batch.

        The end state is the one-event path's: a created event leaves the installation
        pending at version 1 ("installed"), a removed one leaves it removed at version 1
        ("uninstalled", no message).
        """
        if not batch:
            return
        # Work of the one-event path still pending in the session goes first, so the
        # audit log keeps the order of the events.
        session.flush()
        statements = _statements(core)
        labels = {e.site_id: (e.site_name, e.site_urn, e.site_dfe_number) for _, e in batch}
        core.execute(
            statements.upsert_sites,
            [
                {"id": site, "name": n, "urn": u, "dfe_number": d, "updated_at": now}
                for site, (n, u, d) in labels.items()
            ],
        )
        # The first move of each: installed, or removed before it was ever seen installed.
        first = {
            EventType.CREATED: MOVES[MoveName.INSTALLED],
            EventType.REMOVED: MOVES[MoveName.REMOVED_UNSEEN],
        }
        rows = [
            installation_row(
                e.application_id,
                e.site_id,
                state=first[e.type].target,
                version=1,
                now=now,
                actor=SIMS_ID,
                status=first[e.type].message_status(notify) or MessageStatus.UNSENT,
                upstream_changed_at=e.occurred_at,
            )
            for _, e in batch
        ]
        ids = {(a, s): i for i, a, s in core.execute(statements.insert_installations, rows)}
        at = self.steps.clock()
        audit = []
        messages = []
        lost_race = []
        for index, e in batch:
            inst_id = ids.get((e.application_id, e.site_id))
            if inst_id is None:
                lost_race.append((index, e))  # stored meanwhile by another transaction
                continue
            created = e.type is EventType.CREATED
            move = first[e.type]
            tally(session, e.application_id, None, move.target)
            audit += move_audit(inst_id, move, at=at, actor=SIMS_ID, source=None, detail=e.id)
            if created and notify:
                channel = route(None, apps[e.application_id].channel, self.steps.default_channel)
                messages.append(outbox.message_row(inst_id, channel, now))
        if audit:
            core.execute(statements.insert_audit, audit)
        outbox.enqueue_messages(core, messages)
        # Rows changed under the ORM's feet: whatever it holds must be read again.
        session.expire_all()
        for index, e in lost_race:
            outcomes[index] = self.one.apply_claimed(session, e, now, notify=notify)
