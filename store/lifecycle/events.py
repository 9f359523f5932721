"""SIMS ID install events one at a time: the reference rules that the bulk path follows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from store.lifecycle.base import LifecycleBase
from store.lifecycle.domain import SIMS_ID, ConcurrentChange, EventOutcome, EventType, InstallEvent
from store.lifecycle.tally import tally
from store.models import Application, Installation, MessageStatus, State
from store.sqlutil import rowcount


class SingleEvents(LifecycleBase):
    def _apply_claimed(
        self, session: Session, event: InstallEvent, now: datetime, *, notify: bool
    ) -> EventOutcome:
        """One event whose id is already recorded as processed, one statement at a time."""
        app = self._upsert_application(session, event.application_id, event.application_name)
        self._upsert_site(session, event, now, labels=False)
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
        self._upsert_site(session, event, now)  # newer than what we hold: its labels too
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
            tally(session, inst.application_id, State(inst.state), State.REMOVED)
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
        elif inst.state is not State.REMOVED and not self._move(
            session,
            inst,
            State.REMOVED,
            actor=SIMS_ID,
            action="uninstalled",
            detail=event.id,
            notify=notify,
        ):
            raise ConcurrentChange(inst.id or 0)  # never answer "stored" for an unapplied event
        return EventOutcome.ACCEPTED

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
        stored = State(inst.state)  # pending for a row just created at version 0
        source = None if inst.version == 0 else stored
        result = session.execute(
            update(Installation)
            .where(col(Installation.id) == inst.id, col(Installation.version) == inst.version)
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
                change_reason=None,
                removal_requested_by=None,
                removal_requested_at=None,
                removal_reason=None,
            )
        )
        if rowcount(result) != 1:
            raise ConcurrentChange(inst.id or 0)
        tally(session, inst.application_id, stored, State.PENDING)
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
