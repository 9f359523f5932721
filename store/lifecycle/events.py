"""SIMS ID install events one at a time: the reference rules that the bulk path follows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from store.lifecycle.base import Steps
from store.lifecycle.domain import SIMS_ID, ConcurrentChange, EventResult, EventType, InstallEvent
from store.lifecycle.rules import MOVES, MoveName
from store.models import Application, Installation, State


@dataclass
class OneEvent:
    """One install event at a time: the reference rules."""

    steps: Steps

    def apply_claimed(
        self, session: Session, event: InstallEvent, now: datetime, *, notify: bool
    ) -> EventResult:
        """One event whose id is already recorded as processed, one statement at a time."""
        app = self.steps.upsert_application(session, event.application_id, event.application_name)
        self.steps.upsert_site(session, event, now, labels=False)
        inst = self.steps.installation_for(session, app, event.site_id, event, now)

        if inst.upstream_changed_at is not None and event.occurred_at < inst.upstream_changed_at:
            self.steps.audit(
                session,
                inst,
                actor=SIMS_ID,
                action="stale_event",
                from_state=inst.state,
                detail=f"{event.type} {event.id} occurred before the last change; ignored",
            )
            return EventResult.STALE
        self.steps.upsert_site(session, event, now)  # newer than what we hold: its labels too
        inst.upstream_changed_at = event.occurred_at
        session.add(inst)

        if event.type is EventType.CREATED:
            if inst.state is State.REMOVED:
                self._new_cycle(session, inst, app, event, now, notify=notify)
            elif inst.version == 0:
                self._first_install(session, inst, app, event, now, notify=notify)
            else:
                self.steps.audit(
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
            if not self.steps.move(
                session,
                inst,
                MOVES[MoveName.REMOVED_UNSEEN],
                actor=SIMS_ID,
                detail=event.id,
                notify=notify,
                follow_up=False,
            ):
                raise ConcurrentChange(inst.id or 0)
        elif inst.state is not State.REMOVED and not self.steps.move(
            session,
            inst,
            MOVES[MoveName.UNINSTALLED],
            actor=SIMS_ID,
            detail=event.id,
            notify=notify,
        ):
            raise ConcurrentChange(inst.id or 0)  # never answer "stored" for an unapplied event
        return EventResult.ACCEPTED

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
        self._start_cycle(session, inst, app, event, notify=notify, move=MoveName.INSTALLED)

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
        self._start_cycle(session, inst, app, event, notify=notify, move=MoveName.REINSTALLED)

    def _start_cycle(
        self,
        session: Session,
        inst: Installation,
        app: Application,
        event: InstallEvent,
        *,
        notify: bool,
        move: MoveName,
    ) -> None:
        if not self.steps.move(
            session,
            inst,
            MOVES[move],
            actor=SIMS_ID,
            detail=event.id,
            notify=notify,
            follow_up=False,
        ):
            raise ConcurrentChange(inst.id or 0)
        if app.bypass_auth:
            # Bypass-authentication apps are enabled at once; the message shows it enabled.
            self.steps.move(
                session,
                inst,
                MOVES[MoveName.AUTO_ENABLED],
                actor=SIMS_ID,
                detail="application bypasses authentication",
                notify=notify,
            )
        else:
            self.steps.follow_up(session, inst, self.steps.clock(), notify=notify, actor=SIMS_ID)
