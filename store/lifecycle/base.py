"""What every path of the lifecycle shares: the compare-and-set move, audit rows, the
outbox follow-up, credentials, and finding or creating the rows an event names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session, col

from store import messages, outbox, user_emails, vault
from store.lifecycle.domain import (
    SIMS_ID,
    Action,
    Change,
    ConcurrentChange,
    InstallEvent,
    open_request,
)
from store.lifecycle.payload import decision_payload
from store.lifecycle.slugs import free_slug
from store.lifecycle.tally import tally
from store.models import (
    Application,
    AuditEntry,
    Credential,
    CredentialOrigin,
    Installation,
    MessageStatus,
    OutboxKind,
    Site,
    State,
    utcnow,
)
from store.sqlutil import insert_ignore, rowcount


@dataclass
class LifecycleBase:
    """The settings of a Lifecycle and the steps its actions and events are made of."""

    upstream: bool = False
    default_channel: str | None = None
    clock: Callable[[], datetime] = utcnow
    # SIMSID_REMOVE_APPROVALS: with 2, Remove records a request another admin confirms.
    remove_approvals: int = 1

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
            removal_requested_by=open_request(inst),
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
        reason: str | None = None,
        withdraws_request: bool = True,
    ) -> bool:
        """Compare-and-set the state; False when another transaction changed it first.

        `reason` is the actor's own words, kept on the installation and in the audit row.
        Any change of state withdraws an open removal request (audited as such, unless
        the change is that request's confirmation).
        """
        now = self.clock()
        source = State(inst.state)
        requester = open_request(inst)  # a void one is cleared too, but was withdrawn already
        result = session.execute(
            update(Installation)
            .where(col(Installation.id) == inst.id, col(Installation.version) == inst.version)
            .values(
                state=target,
                version=inst.version + 1,
                changed_at=now,
                changed_by=actor,
                change_reason=reason,
                removal_requested_by=None,
                removal_requested_at=None,
                removal_reason=None,
            )
        )
        if rowcount(result) != 1:
            return False
        tally(session, inst.application_id, source, target)
        # The ORM update has already synchronised `inst` with the new values.
        self._audit(
            session,
            inst,
            actor=actor,
            action=action,
            from_state=source,
            to_state=target,
            detail=detail,
            reason=reason,
        )
        if requester is not None and withdraws_request:
            self._audit(
                session,
                inst,
                actor=actor,
                action="removal_cancelled",
                from_state=target,
                detail=f"request by {requester} withdrawn by the change to {target}",
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
        messages.refresh(session, inst.id, default_channel=self.default_channel, now=now)
        if self.upstream and inst.state is not State.PENDING:
            outbox.enqueue(
                session,
                OutboxKind.UPSTREAM,
                now=now,
                installation_id=inst.id,
                payload=decision_payload(session, inst, actor, now),
            )

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
            credential.origin = CredentialOrigin.BOT
            session.add(credential)

    def _destroy_secret(self, session: Session, inst: Installation) -> None:
        session.execute(
            update(Credential).where(col(Credential.installation_id) == inst.id).values(secret=None)
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

    def _upsert_site(
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

    def _installation_for(
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
            inserted = insert_ignore(
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
            if inserted:  # else another transaction stored it (and counted it) meanwhile
                tally(session, app.id, None, State.PENDING)
            inst = session.scalars(query.execution_options(populate_existing=True)).one()
        return inst
