"""What every path of the lifecycle shares: the compare-and-set move, audit rows, the
outbox follow-up, credentials, and finding or creating the rows an event names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from store import messages, outbox, user_emails
from store.lifecycle.domain import (
    SIMS_ID,
    Action,
    ActionResult,
    ConcurrentChange,
    InstallEvent,
    open_request,
)
from store.lifecycle.payload import decision_payload
from store.lifecycle.rules import Move, apply_credentials, installation_row, move_audit
from store.lifecycle.slugs import free_slug
from store.lifecycle.tally import tally
from store.models import (
    Application,
    AuditEntry,
    Installation,
    MessageStatus,
    OutboxKind,
    Site,
    State,
    utcnow,
)
from store.sqlutil import insert_ignore, rowcount


@dataclass
class Steps:
    """The settings of a Lifecycle and the steps its parts (actions, removals, events,
    the apply of SIMS ID's list) are made of."""

    upstream: bool = False
    default_channel: str | None = None
    clock: Callable[[], datetime] = utcnow
    # SIMSID_REMOVE_APPROVALS: with 2, Remove records a request another admin confirms.
    remove_approvals: int = 1

    def refused(self, inst: Installation, action: Action, why: str) -> ActionResult:
        return ActionResult(
            installation_id=inst.id or 0,
            action=action,
            applied=False,
            state=State(inst.state),
            previous=State(inst.state),
            changed_by=inst.changed_by,
            changed_at=inst.changed_at,
            version=inst.version,
            refusal=why,
            removal_requested_by=open_request(inst),
        )

    def move(
        self,
        session: Session,
        inst: Installation,
        move: Move,
        *,
        actor: str,
        detail: str | None = None,
        notify: bool = True,
        reason: str | None = None,
        withdraws_request: bool = True,
        follow_up: bool = True,
        also: Mapping[str, Any] | None = None,
    ) -> bool:
        """Compare-and-set `move` (rules.MOVES); False when another transaction changed
        the installation first.

        `reason` is the actor's own words, kept on the installation and in the audit row.
        Any change of state withdraws an open removal request (audited as such, unless
        the change is that request's confirmation). `also`: columns the cause sets too.
        """
        now = self.clock()
        first = inst.version == 0  # a row just stored: the move is its first state
        source = State(inst.state)
        requester = open_request(inst)  # a void one is cleared too, but was withdrawn already
        values = move.values(now=now, actor=actor, notify=notify, reason=reason)
        result = session.execute(
            update(Installation)
            .where(col(Installation.id) == inst.id, col(Installation.version) == inst.version)
            .values(version=inst.version + 1, **values, **(also or {}))
        )
        if rowcount(result) != 1:
            return False
        tally(session, inst.application_id, source, move.target)
        # The ORM update has already synchronised `inst` with the new values.
        assert inst.id is not None
        known = user_emails.known(session, actor, now=now)
        for row in move_audit(
            inst.id,
            move,
            at=self.clock(),
            actor=actor,
            source=None if first else source,
            detail=detail,
            reason=reason,
            withdrawn=requester if withdraws_request else None,
        ):
            session.add(AuditEntry(**row, actor_email=known.email if known else None))
        apply_credentials(session.connection(), [(inst.id, move.credentials)], now)
        if follow_up:
            self.follow_up(session, inst, now, notify=notify, actor=actor)
        return True

    def follow_up(
        self, session: Session, inst: Installation, now: datetime, *, notify: bool, actor: str
    ) -> None:
        if not notify:
            return
        assert inst.id is not None
        messages.refresh(session, inst.id, default_channel=self.default_channel, now=now)
        if self.upstream and inst.state is not State.PENDING:
            outbox.enqueue(
                session,
                OutboxKind.UPSTREAM,
                now=now,
                installation_id=inst.id,
                payload=decision_payload(session, inst, actor, now),
            )

    def audit(
        self,
        session: Session,
        inst: Installation,
        *,
        actor: str,
        action: str,
        from_state: State | None = None,
        to_state: State | None = None,
        detail: str | None = None,
        reason: str | None = None,
    ) -> None:
        assert inst.id is not None
        email = user_emails.known(session, actor, now=self.clock())
        session.add(
            AuditEntry(
                installation_id=inst.id,
                at=self.clock(),
                actor=actor,
                action=action,
                from_state=from_state,
                to_state=to_state,
                detail=detail,
                reason=reason,
                actor_email=email.email if email else None,
            )
        )

    def upsert_application(self, session: Session, app_id: str, name: str) -> Application:
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

    def upsert_site(
        self, session: Session, event: InstallEvent, now: datetime, *, labels: bool = True
    ) -> None:
        """Store the event's site if new; with `labels`, also its name, URN and DfE number.

        Without `labels` (the first call of an event) the site's row is locked, as the
        batch path's upsert locks it: the site, then its installation, in every event.
        """
        site = session.get(Site, event.site_id, with_for_update=not labels)
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
        given = (event.site_name, event.site_urn, event.site_dfe_number)
        if labels and (site.name, site.urn, site.dfe_number) != given:
            site.name, site.urn, site.dfe_number = given
            site.updated_at = now
            session.add(site)

    def installation_for(
        self, session: Session, app: Application, site_id: str, event: InstallEvent, now: datetime
    ) -> Installation:
        """The installation row, created at version 0 ("never installed") if new, locked
        until the transaction ends.

        Locked: the stale check, the time it stores and the compare-and-set of the change
        must see one version. Unlocked, on PostgreSQL a click committed in between made the
        event's compare-and-set fail after its time was written (SQLite's writers never
        overlap: BEGIN IMMEDIATE).
        """
        query = (
            select(Installation)
            .where(col(Installation.application_id) == app.id, col(Installation.site_id) == site_id)
            .with_for_update()
        )
        inst = session.scalars(query.execution_options(populate_existing=True)).first()
        if inst is None:
            # Version 0 until its first move (rules.MOVES) sets what the event says.
            row = installation_row(
                app.id,
                site_id,
                state=State.PENDING,
                version=0,
                now=now,
                actor=SIMS_ID,
                status=MessageStatus.UNSENT,
            )
            inserted = insert_ignore(session, Installation, [row])
            if inserted:  # else another transaction stored it (and counted it) meanwhile
                tally(session, app.id, None, State.PENDING)
            inst = session.scalars(query.execution_options(populate_existing=True)).one()
        return inst
