"""The installation state machine: the only code that changes an installation's state.

Each public function is one unit of work inside the caller's session: the state change,
its audit row and the outbox rows for what must follow commit together or not at all.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from store import outbox, vault
from store.models import (
    Application,
    AuditEntry,
    Credential,
    Installation,
    MessageStatus,
    OutboxItem,
    OutboxKind,
    ProcessedEvent,
    Site,
    State,
    utcnow,
)
from store.sqlutil import insert_ignore

SIMS_ID = "sims-id"  # the actor for changes that SIMS ID reports
_IN_CHUNK = 500  # ids per IN (...) list, well inside every driver's parameter limit


@dataclass(frozen=True)
class _AppFacts:
    bypass_auth: bool
    channel: str | None


class _BatchStatements:
    """The statements of apply_events, built once per dialect: building an upsert (its
    `excluded` alias above all) costs more than running it on a small batch."""

    def __init__(self, dialect: str) -> None:
        dml: Any = postgresql if dialect == "postgresql" else sqlite
        events: Table = ProcessedEvent.__table__  # type: ignore[attr-defined]
        apps: Table = Application.__table__  # type: ignore[attr-defined]
        sites: Table = Site.__table__  # type: ignore[attr-defined]
        installs: Table = Installation.__table__  # type: ignore[attr-defined]
        queued: Table = OutboxItem.__table__  # type: ignore[attr-defined]
        ids: Any = bindparam("ids", expanding=True)
        self.claim = dml.insert(events).on_conflict_do_nothing().returning(events.c.id)
        self.app_facts = select(apps.c.id, apps.c.bypass_auth, apps.c.channel).where(
            apps.c.id.in_(ids)
        )
        self.stored_pairs = select(installs.c.application_id, installs.c.site_id).where(
            installs.c.site_id.in_(ids)
        )
        site = dml.insert(sites)
        self.upsert_sites = site.on_conflict_do_update(
            index_elements=[sites.c.id],
            set_={
                "name": site.excluded.name,
                "urn": site.excluded.urn,
                "dfe_number": site.excluded.dfe_number,
                "updated_at": site.excluded.updated_at,
            },
            # URN and DfE number are labels; the row only changes when one of them does.
            where=or_(
                sites.c.name.is_distinct_from(site.excluded.name),
                sites.c.urn.is_distinct_from(site.excluded.urn),
                sites.c.dfe_number.is_distinct_from(site.excluded.dfe_number),
            ),
        ).returning(sites.c.id)
        self.insert_installations = (
            dml.insert(installs)
            .on_conflict_do_nothing()
            .returning(installs.c.id, installs.c.application_id, installs.c.site_id)
        )
        audit: Table = AuditEntry.__table__  # type: ignore[attr-defined]
        # RETURNING makes SQLAlchemy send a batch as multi-row VALUES ("insertmanyvalues")
        # rather than one execution per row: many times faster on PostgreSQL.
        self.insert_audit = insert(audit).returning(audit.c.id)
        message = dml.insert(queued)
        # As outbox.enqueue_message: a message already queued is rendered again.
        self.enqueue_messages = message.on_conflict_do_update(
            index_elements=[queued.c.dedupe_key],
            set_={"generation": queued.c.generation + 1, "channel": message.excluded.channel},
        ).returning(queued.c.id)


_STATEMENTS: dict[str, _BatchStatements] = {}


def _statements(session: Session) -> _BatchStatements:
    dialect = session.get_bind().dialect.name
    built = _STATEMENTS.get(dialect)
    if built is None:
        built = _STATEMENTS[dialect] = _BatchStatements(dialect)
    return built


def _core(session: Session) -> Connection:
    """The session's connection, in its transaction: Core statements skip the ORM layer."""
    return session.connection()


class Action(StrEnum):
    APPROVE = "approve"
    ENABLE = "enable"
    DISABLE = "disable"
    REMOVE = "remove"


# The diagram of shared/INTERFACE.md: action -> {from state: to state}.
TRANSITIONS: dict[Action, dict[State, State]] = {
    Action.APPROVE: {State.PENDING: State.ENABLED},
    Action.ENABLE: {State.DISABLED: State.ENABLED},
    Action.DISABLE: {State.PENDING: State.DISABLED, State.ENABLED: State.DISABLED},
    Action.REMOVE: {State.PENDING: State.REMOVED, State.DISABLED: State.REMOVED},
}


def allowed_actions(state: State) -> list[Action]:
    """The actions valid from `state`, in the order buttons show them."""
    return [action for action in Action if state in TRANSITIONS[action]]


class NotFound(LookupError):
    """No installation with that id."""


class NotEnabled(Exception):
    """A secret was asked for an installation that is not enabled."""

    def __init__(self, state: State) -> None:
        super().__init__(f"the installation is {state}")
        self.state = state


@dataclass(frozen=True)
class Change:
    """The result of asking for an action: applied, or refused with the state as it is."""

    installation_id: int
    action: Action
    applied: bool
    state: State
    previous: State
    changed_by: str | None
    changed_at: datetime
    version: int
    # Why it was refused: "illegal" (not valid from this state) or "stale" (someone else
    # changed it since the asker saw it, or won a race).
    refusal: str | None = None


class ConcurrentChange(Exception):
    """An event raced another change to the same installation; the caller retries."""


@dataclass(frozen=True)
class Secret:
    client_key: str
    client_secret: str


class EventType(StrEnum):
    CREATED = "installation.created"
    REMOVED = "installation.removed"


@dataclass(frozen=True)
class InstallEvent:
    """An install event from SIMS ID, already validated."""

    id: str
    type: EventType
    occurred_at: datetime
    application_id: str
    application_name: str
    site_id: str
    site_name: str
    site_urn: str | None = None
    site_dfe_number: str | None = None


class EventOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    STALE = "stale"  # acknowledged and audited, changed nothing


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:80] or "app"


def free_slug(session: Session, name: str, app_id: str) -> str:
    """A slug for the application `app_id` that no other application has."""
    base = slugify(name)
    # Names and ids in any script slugify alike ("app"): count on until one is free.
    candidates = itertools.chain(
        (base, f"{base}-{slugify(app_id)}"), (f"{base}-{n}" for n in itertools.count(2))
    )
    owner = select(col(Application.id))
    for slug in candidates:
        if session.scalar(owner.where(col(Application.slug) == slug)) in (None, app_id):
            return slug
    raise AssertionError("unreachable: the candidates never end")


@dataclass
class Lifecycle:
    """Every state change. `upstream` adds a signed decision to the outbox for each change."""

    upstream: bool = False
    default_channel: str | None = None
    clock: Callable[[], datetime] = utcnow

    # -- Slack-side actions -------------------------------------------------

    def act(
        self,
        session: Session,
        *,
        installation_id: int,
        action: Action,
        actor: str,
        expected_version: int | None = None,
    ) -> Change:
        """Apply `action` by `actor`, unless it is illegal now or someone else got there first."""
        inst = session.get(Installation, installation_id, populate_existing=True)
        if inst is None:
            raise NotFound(installation_id)
        target = TRANSITIONS[action].get(inst.state)
        if expected_version is not None and expected_version != inst.version:
            return self._refused(inst, action, "stale")
        if target is None:
            return self._refused(inst, action, "illegal")
        source = State(inst.state)
        if not self._move(session, inst, target, actor=actor, action=action.value):
            fresh = session.get(Installation, installation_id, populate_existing=True)
            assert fresh is not None
            return self._refused(fresh, action, "stale")
        return Change(
            installation_id=installation_id,
            action=action,
            applied=True,
            state=target,
            previous=source,
            changed_by=actor,
            changed_at=inst.changed_at,
            version=inst.version,
        )

    def reveal_secret(self, session: Session, *, installation_id: int, actor: str) -> Secret:
        """The client key and secret of an enabled installation, audited in this transaction."""
        inst = session.get(Installation, installation_id, populate_existing=True)
        if inst is None:
            raise NotFound(installation_id)
        if inst.state is not State.ENABLED:
            raise NotEnabled(State(inst.state))
        credential = session.get(Credential, installation_id, populate_existing=True)
        if credential is None or credential.secret is None:
            raise NotEnabled(State(inst.state))
        self._audit(session, inst, actor=actor, action="secret_viewed", from_state=inst.state)
        # Flush now: if the audit row cannot be written, the secret is not shown.
        session.flush()
        return Secret(client_key=credential.client_key, client_secret=credential.secret)

    # -- SIMS ID events ------------------------------------------------------

    def apply_event(
        self, session: Session, event: InstallEvent, *, notify: bool = True
    ) -> EventOutcome:
        """Apply one install event exactly once, in occurred_at order per installation."""
        return self.apply_events(session, [event], notify=notify)[0]

    def apply_events(
        self, session: Session, events: Sequence[InstallEvent], *, notify: bool = True
    ) -> list[EventOutcome]:
        """Apply install events in the order given, each exactly once; one outcome each.

        The same rules as one event at a time, in a few statements per batch for the
        common case, the first event of an installation not stored yet (a bulk import, a
        new install): those are written set-based. Any other event (an installation seen
        before or earlier in the batch, an application that bypasses authentication)
        takes the one-event path in its place in the order.
        """
        if not events:
            return []
        now = self.clock()
        fresh = self._claim_event_ids(session, events, now)
        outcomes = [EventOutcome.DUPLICATE] * len(events)
        todo = [(i, e) for i, e in enumerate(events) if e.id in fresh]
        apps = self._application_facts(session, [e for _, e in todo])
        stored = self._stored_pairs(session, {e.site_id for _, e in todo})
        batch: list[tuple[int, InstallEvent]] = []
        for index, event in todo:
            if event.id not in fresh:
                continue  # the same id earlier in this batch
            fresh.discard(event.id)
            pair = (event.application_id, event.site_id)
            if pair in stored or apps[event.application_id].bypass_auth:
                # Everything before it first, so that the order is kept.
                self._insert_first_events(session, batch, apps, now, outcomes, notify=notify)
                batch = []
                outcomes[index] = self._apply_claimed(session, event, now, notify=notify)
            else:
                batch.append((index, event))
                outcomes[index] = EventOutcome.ACCEPTED
            stored.add(pair)
        self._insert_first_events(session, batch, apps, now, outcomes, notify=notify)
        return outcomes

    def _apply_claimed(
        self, session: Session, event: InstallEvent, now: datetime, *, notify: bool
    ) -> EventOutcome:
        """One event whose id is already recorded as processed, one statement at a time."""
        app = self._upsert_application(session, event.application_id, event.application_name)
        self._upsert_site(session, event, now)
        inst = self._installation_for(session, app, event.site_id, event, now)

        if inst.upstream_changed_at is not None and event.occurred_at < inst.upstream_changed_at:
            self._audit(
                session,
                inst,
                actor=SIMS_ID,
                action="stale_event",
                from_state=inst.state,
                detail=f"{event.type} {event.id} occurred before the last change; ignored",
            )
            return EventOutcome.STALE
        inst.upstream_changed_at = event.occurred_at
        session.add(inst)

        if event.type is EventType.CREATED:
            if inst.state is State.REMOVED:
                self._new_cycle(session, inst, app, event, now, notify=notify)
            elif inst.version == 0:
                self._first_install(session, inst, app, event, now, notify=notify)
            else:
                self._audit(
                    session,
                    inst,
                    actor=SIMS_ID,
                    action="install_repeated",
                    from_state=inst.state,
                    detail=event.id,
                )
        elif inst.version == 0:
            # Removed before we ever saw it installed: remember it so an older
            # "created" arriving late changes nothing.
            inst.state = State.REMOVED
            inst.version = 1
            inst.message_status = MessageStatus.SILENT
            session.add(inst)
            self._audit(
                session,
                inst,
                actor=SIMS_ID,
                action="uninstalled",
                to_state=State.REMOVED,
                detail=event.id,
            )
        elif inst.state is not State.REMOVED:
            self._move(
                session,
                inst,
                State.REMOVED,
                actor=SIMS_ID,
                action="uninstalled",
                detail=event.id,
                notify=notify,
            )
        return EventOutcome.ACCEPTED

    # -- the set-based path of apply_events --------------------------------------

    def _claim_event_ids(
        self, session: Session, events: Sequence[InstallEvent], now: datetime
    ) -> set[str]:
        """Record the event ids not seen before; returns those (the others are duplicates)."""
        rows = [{"id": i, "received_at": now} for i in dict.fromkeys(e.id for e in events)]
        return set(_core(session).execute(_statements(session).claim, rows).scalars())

    def _application_facts(
        self, session: Session, events: Sequence[InstallEvent]
    ) -> dict[str, _AppFacts]:
        """Each application of the batch, registered with defaults if it is new."""
        wanted = list(dict.fromkeys(e.application_id for e in events))
        facts = {
            app_id: _AppFacts(bool(bypass), channel)
            for app_id, bypass, channel in _core(session).execute(
                _statements(session).app_facts, {"ids": wanted}
            )
        }
        names = {e.application_id: e.application_name for e in reversed(events)}
        for app_id in wanted:
            if app_id not in facts:
                app = self._upsert_application(session, app_id, names[app_id])
                facts[app_id] = _AppFacts(app.bypass_auth, app.channel)
        return facts

    def _stored_pairs(self, session: Session, site_ids: set[str]) -> set[tuple[str, str]]:
        """(application id, site id) of every installation already stored at these sites."""
        pairs: set[tuple[str, str]] = set()
        chunk = sorted(site_ids)
        for start in range(0, len(chunk), _IN_CHUNK):
            rows = _core(session).execute(
                _statements(session).stored_pairs, {"ids": chunk[start : start + _IN_CHUNK]}
            )
            pairs.update((a, s) for a, s in rows)
        return pairs

    def _insert_first_events(
        self,
        session: Session,
        batch: list[tuple[int, InstallEvent]],
        apps: dict[str, _AppFacts],
        now: datetime,
        outcomes: list[EventOutcome],
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
        statements = _statements(session)
        core = _core(session)
        labels = {e.site_id: (e.site_name, e.site_urn, e.site_dfe_number) for _, e in batch}
        core.execute(
            statements.upsert_sites,
            [
                {"id": site, "name": n, "urn": u, "dfe_number": d, "updated_at": now}
                for site, (n, u, d) in labels.items()
            ],
        )
        created_status = MessageStatus.UNSENT if notify else MessageStatus.SILENT
        rows = [
            {
                "application_id": e.application_id,
                "site_id": e.site_id,
                "state": State.PENDING if e.type is EventType.CREATED else State.REMOVED,
                "version": 1,
                "created_at": now,
                "changed_at": now,
                "changed_by": SIMS_ID,
                "upstream_changed_at": e.occurred_at,
                "message_status": created_status
                if e.type is EventType.CREATED
                else MessageStatus.SILENT,
                "message_channel": None,
                "message_ts": None,
                "reminders_sent": 0,
            }
            for _, e in batch
        ]
        ids = {(a, s): i for i, a, s in core.execute(statements.insert_installations, rows)}
        at = self.clock()
        audit = []
        messages = []
        lost_race = []
        for index, e in batch:
            inst_id = ids.get((e.application_id, e.site_id))
            if inst_id is None:
                lost_race.append((index, e))  # stored meanwhile by another transaction
                continue
            created = e.type is EventType.CREATED
            audit.append(
                {
                    "installation_id": inst_id,
                    "at": at,
                    "actor": SIMS_ID,
                    "action": "installed" if created else "uninstalled",
                    "from_state": None,
                    "to_state": State.PENDING if created else State.REMOVED,
                    "detail": e.id,
                }
            )
            if created and notify:
                messages.append(
                    {
                        "kind": OutboxKind.MESSAGE,
                        "installation_id": inst_id,
                        "channel": apps[e.application_id].channel or self.default_channel,
                        "dedupe_key": outbox.message_key(inst_id),
                        "generation": 1,
                        "created_at": now,
                        "due_at": now,
                        "attempts": 0,
                        "failed": False,
                    }
                )
        if audit:
            core.execute(statements.insert_audit, audit)
        if messages:
            core.execute(statements.enqueue_messages, messages)
        # Rows changed under the ORM's feet: whatever it holds must be read again.
        session.expire_all()
        for index, e in lost_race:
            outcomes[index] = self._apply_claimed(session, e, now, notify=notify)

    # -- internals -----------------------------------------------------------

    def _refused(self, inst: Installation, action: Action, why: str) -> Change:
        return Change(
            installation_id=inst.id or 0,
            action=action,
            applied=False,
            state=State(inst.state),
            previous=State(inst.state),
            changed_by=inst.changed_by,
            changed_at=inst.changed_at,
            version=inst.version,
            refusal=why,
        )

    def _move(
        self,
        session: Session,
        inst: Installation,
        target: State,
        *,
        actor: str,
        action: str,
        detail: str | None = None,
        notify: bool = True,
    ) -> bool:
        """Compare-and-set the state; False when another transaction changed it first."""
        now = self.clock()
        source = State(inst.state)
        result = session.execute(
            update(Installation)
            .where(Installation.id == inst.id, Installation.version == inst.version)  # type: ignore[arg-type]
            .values(state=target, version=inst.version + 1, changed_at=now, changed_by=actor)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        # The ORM update has already synchronised `inst` with the new values.
        self._audit(
            session,
            inst,
            actor=actor,
            action=action,
            from_state=source,
            to_state=target,
            detail=detail,
        )
        if target is State.ENABLED:
            self._issue_credentials(session, inst, now)
        elif target is State.REMOVED:
            self._destroy_secret(session, inst)
        self._follow_up(session, inst, now, notify=notify, actor=actor)
        return True

    def _follow_up(
        self, session: Session, inst: Installation, now: datetime, *, notify: bool, actor: str
    ) -> None:
        if not notify:
            return
        assert inst.id is not None
        if inst.message_status in (MessageStatus.UNSENT, MessageStatus.POSTED):
            channel = inst.message_channel or self._channel_for(session, inst.application_id)
            outbox.enqueue_message(session, inst.id, channel, now=now)
        if self.upstream and inst.state is not State.PENDING:
            outbox.enqueue(
                session,
                OutboxKind.UPSTREAM,
                now=now,
                installation_id=inst.id,
                payload=self._decision(session, inst, actor, now),
            )

    def _decision(
        self, session: Session, inst: Installation, actor: str, now: datetime
    ) -> dict[str, object]:
        app = session.get(Application, inst.application_id)
        site = session.get(Site, inst.site_id)
        assert app is not None and site is not None
        credential = session.get(Credential, inst.id)
        who = {"system": actor} if actor in (SIMS_ID, "system", "import") else {"slack_user": actor}
        return {
            "id": f"dec_{uuid.uuid4().hex}",
            "type": f"installation.{inst.state}",
            "occurred_at": now.isoformat().replace("+00:00", "Z"),
            "actor": who,
            "application": {"id": app.id, "name": app.name},
            "site": {
                "id": site.id,
                "name": site.name,
                "urn": site.urn,
                "dfe_number": site.dfe_number,
            },
            "client_key": credential.client_key if credential else None,
        }

    def _channel_for(self, session: Session, application_id: str) -> str | None:
        app = session.get(Application, application_id)
        return (app.channel if app else None) or self.default_channel

    def _audit(
        self,
        session: Session,
        inst: Installation,
        *,
        actor: str,
        action: str,
        from_state: State | None = None,
        to_state: State | None = None,
        detail: str | None = None,
    ) -> None:
        assert inst.id is not None
        session.add(
            AuditEntry(
                installation_id=inst.id,
                at=self.clock(),
                actor=actor,
                action=action,
                from_state=from_state,
                to_state=to_state,
                detail=detail,
            )
        )

    def _issue_credentials(self, session: Session, inst: Installation, now: datetime) -> None:
        credential = session.get(Credential, inst.id, populate_existing=True)
        if credential is None:
            assert inst.id is not None
            session.add(
                Credential(
                    installation_id=inst.id,
                    client_key=vault.new_client_key(),
                    secret=vault.new_client_secret(),
                    created_at=now,
                )
            )
        elif credential.secret is None:
            # Removed then reinstalled: a new cycle gets a new secret under the same key.
            credential.secret = vault.new_client_secret()
            session.add(credential)

    def _destroy_secret(self, session: Session, inst: Installation) -> None:
        session.execute(
            update(Credential).where(Credential.installation_id == inst.id).values(secret=None)  # type: ignore[arg-type]
        )

    def _upsert_application(self, session: Session, app_id: str, name: str) -> Application:
        app = session.get(Application, app_id)
        # ON CONFLICT DO NOTHING also swallows a clash on the slug, when another transaction
        # took the slug we picked: then pick again rather than fail the event.
        for _ in range(3):
            if app is not None:
                return app
            insert_ignore(
                session,
                Application,
                [
                    {
                        "id": app_id,
                        "name": name,
                        "slug": free_slug(session, name, app_id),
                        "created_at": self.clock(),
                    }
                ],
            )
            app = session.get(Application, app_id)
        if app is None:
            raise ConcurrentChange(f"application {app_id}: no free slug")
        return app

    def _upsert_site(self, session: Session, event: InstallEvent, now: datetime) -> None:
        site = session.get(Site, event.site_id)
        if site is None:
            insert_ignore(
                session,
                Site,
                [
                    {
                        "id": event.site_id,
                        "name": event.site_name,
                        "urn": event.site_urn,
                        "dfe_number": event.site_dfe_number,
                        "updated_at": now,
                    }
                ],
            )
            return
        # URN and DfE number are labels that SIMS ID may change; the site id is the key.
        labels = (event.site_name, event.site_urn, event.site_dfe_number)
        if (site.name, site.urn, site.dfe_number) != labels:
            site.name, site.urn, site.dfe_number = labels
            site.updated_at = now
            session.add(site)

    def _installation_for(
        self, session: Session, app: Application, site_id: str, event: InstallEvent, now: datetime
    ) -> Installation:
        """The installation row, created at version 0 ("never installed") if new."""
        query = select(Installation).where(
            col(Installation.application_id) == app.id, col(Installation.site_id) == site_id
        )
        inst = session.scalars(query.execution_options(populate_existing=True)).first()
        if inst is None:
            insert_ignore(
                session,
                Installation,
                [
                    {
                        "application_id": app.id,
                        "site_id": site_id,
                        "state": State.PENDING,
                        "version": 0,
                        "created_at": now,
                        "changed_at": now,
                        "changed_by": SIMS_ID,
                        "message_status": MessageStatus.UNSENT,
                        "reminders_sent": 0,
                    }
                ],
            )
            inst = session.scalars(query.execution_options(populate_existing=True)).one()
        return inst

    def _first_install(
        self,
        session: Session,
        inst: Installation,
        app: Application,
        event: InstallEvent,
        now: datetime,
        *,
        notify: bool,
    ) -> None:
        self._start_cycle(session, inst, app, event, now, notify=notify, action="installed")

    def _new_cycle(
        self,
        session: Session,
        inst: Installation,
        app: Application,
        event: InstallEvent,
        now: datetime,
        *,
        notify: bool,
    ) -> None:
        self._start_cycle(session, inst, app, event, now, notify=notify, action="reinstalled")

    def _start_cycle(
        self,
        session: Session,
        inst: Installation,
        app: Application,
        event: InstallEvent,
        now: datetime,
        *,
        notify: bool,
        action: str,
    ) -> None:
        source = None if inst.version == 0 else State(inst.state)
        result = session.execute(
            update(Installation)
            .where(Installation.id == inst.id, Installation.version == inst.version)  # type: ignore[arg-type]
            .values(
                state=State.PENDING,
                version=inst.version + 1,
                created_at=now,
                changed_at=now,
                changed_by=SIMS_ID,
                reminders_sent=0,
                message_ts=None,
                message_channel=None,
                message_status=MessageStatus.UNSENT if notify else MessageStatus.SILENT,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentChange(inst.id or 0)
        self._audit(
            session,
            inst,
            actor=SIMS_ID,
            action=action,
            from_state=source,
            to_state=State.PENDING,
            detail=event.id,
        )
        if app.bypass_auth:
            # Bypass-authentication apps are enabled at once; the message shows it enabled.
            self._move(
                session,
                inst,
                State.ENABLED,
                actor=SIMS_ID,
                action="auto_enabled",
                detail="application bypasses authentication",
                notify=notify,
            )
        else:
            self._follow_up(session, inst, now, notify=notify, actor=SIMS_ID)
