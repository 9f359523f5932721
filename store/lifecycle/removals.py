"""Two people for Remove (SIMSID_REMOVE_APPROVALS=2): a removal request, its
confirmation by another admin, and its cancellation.

A request is part of the installation's row (who, when, why) and moves its version, so
buttons drawn before it are out of date; it changes no state and sends nothing
upstream. Any change of state withdraws it (rules.REQUEST_COLUMNS).

A request whose requester is no longer an admin when another admin confirms it is void:
confirming it would remove with one current admin involved. Whether someone is an admin
is Slack's to say, so the caller passes who has lost it (`revoked`); the request is
then kept as void (who, when and why, with `removal_voided_at` set), so the install
message can say a fresh request is needed, and is never confirmed. Whether a request is
open or void is models.removal_request_status's to say (REMOVAL_REQUEST_OPEN in SQL).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from store import messages
from store.lifecycle.base import Steps
from store.lifecycle.domain import TRANSITIONS, Action, ActionResult, NotFound, open_request
from store.lifecycle.rules import MOVES, MoveName
from store.models import Installation, RemovalRequestStatus, State, removal_request_status
from store.sqlutil import rowcount


@dataclass
class Removals:
    """The two-person rule's steps: request, confirm, cancel."""

    steps: Steps

    def request_removal(
        self, session: Session, inst: Installation, *, actor: str, reason: str | None
    ) -> ActionResult:
        """Record `actor`'s request to remove `inst` (called by act for Remove)."""
        if not reason:
            return self.steps.refused(inst, Action.REMOVE, "reason_required")
        if open_request(inst) is not None:  # a void one gives way to a fresh request
            return self.steps.refused(inst, Action.REMOVE, "requested")
        now = self.steps.clock()
        if not self._set_request(session, inst, actor=actor, at=now, reason=reason):
            return self.steps.refused(self._fresh(session, inst), Action.REMOVE, "stale")
        self.steps.audit(
            session,
            inst,
            actor=actor,
            action="remove_requested",
            from_state=inst.state,
            reason=reason,
        )
        self._refresh_message(session, inst, now)
        return self._outcome(inst, "requested", reason=reason)

    def confirm_removal(
        self,
        session: Session,
        *,
        installation_id: int,
        actor: str,
        expected_version: int,
        revoked: Container[str] = (),
    ) -> ActionResult:
        """Carry out another admin's removal request; the requester may not confirm it.

        Audited as `remove` by the confirming admin, with the request's reason, which is
        also the upstream decision's reason. When the requester is in `revoked` (no
        longer an admin) the request is made void instead: refused as
        "requester_revoked", nothing removed.
        """
        inst = session.get(Installation, installation_id, populate_existing=True)
        if inst is None:
            raise NotFound(installation_id)
        if expected_version != inst.version:
            return self.steps.refused(inst, Action.REMOVE, "stale")
        requester, reason = open_request(inst), inst.removal_reason
        if requester is None:
            return self.steps.refused(inst, Action.REMOVE, "no_request")
        if requester == actor:
            return self.steps.refused(inst, Action.REMOVE, "own_request")
        if TRANSITIONS[Action.REMOVE].get(inst.state) is not State.REMOVED:
            return self.steps.refused(inst, Action.REMOVE, "illegal")
        if requester in revoked:
            return self._void(session, inst, requester, actor=actor)
        source = State(inst.state)
        moved = self.steps.move(
            session,
            inst,
            MOVES[MoveName.REMOVE],
            actor=actor,
            reason=reason,
            detail=f"requested by {requester}",
            withdraws_request=False,
        )
        if not moved:
            return self.steps.refused(self._fresh(session, inst), Action.REMOVE, "stale")
        return ActionResult(
            installation_id=installation_id,
            action=Action.REMOVE,
            applied=True,
            state=State.REMOVED,
            previous=source,
            changed_by=actor,
            changed_at=inst.changed_at,
            version=inst.version,
            step="confirmed",
            reason=reason,
        )

    def cancel_removal(
        self, session: Session, *, installation_id: int, actor: str, expected_version: int
    ) -> ActionResult:
        """Withdraw an open removal request; any admin may, the requester included."""
        inst = session.get(Installation, installation_id, populate_existing=True)
        if inst is None:
            raise NotFound(installation_id)
        if expected_version != inst.version:
            return self.steps.refused(inst, Action.REMOVE, "stale")
        status = removal_request_status(inst.removal_requested_at, inst.removal_voided_at)
        if status is RemovalRequestStatus.NONE:  # a void one may be cleared too
            return self.steps.refused(inst, Action.REMOVE, "no_request")
        requester = inst.removal_requested_by
        now = self.steps.clock()
        if not self._set_request(session, inst, actor=None, at=None, reason=None):
            return self.steps.refused(self._fresh(session, inst), Action.REMOVE, "stale")
        self.steps.audit(
            session,
            inst,
            actor=actor,
            action="removal_cancelled",
            from_state=inst.state,
            detail=f"request by {requester}",
        )
        self._refresh_message(session, inst, now)
        return self._outcome(inst, "cancelled")

    def _void(
        self, session: Session, inst: Installation, requester: str, *, actor: str
    ) -> ActionResult:
        """Keep the request as void (who, when and why, and when it was found void);
        audited as cancelled by the admin whose confirmation found it so."""
        now = self.steps.clock()
        if not self._set_request(
            session,
            inst,
            actor=requester,
            at=inst.removal_requested_at,
            reason=inst.removal_reason,
            voided_at=now,
        ):
            return self.steps.refused(self._fresh(session, inst), Action.REMOVE, "stale")
        self.steps.audit(
            session,
            inst,
            actor=actor,
            action="removal_cancelled",
            from_state=inst.state,
            detail=f"request by {requester} void: no longer an admin",
        )
        self._refresh_message(session, inst, now)
        refused = self.steps.refused(inst, Action.REMOVE, "requester_revoked")
        return replace(refused, removal_requested_by=requester)

    def _set_request(
        self,
        session: Session,
        inst: Installation,
        *,
        actor: str | None,
        at: datetime | None,
        reason: str | None,
        voided_at: datetime | None = None,
    ) -> bool:
        """Compare-and-set the removal request (None clears it; `voided_at` keeps it as
        void); the state stays."""
        result = session.execute(
            update(Installation)
            .where(col(Installation.id) == inst.id, col(Installation.version) == inst.version)
            .values(
                version=inst.version + 1,
                removal_requested_by=actor,
                removal_requested_at=at,
                removal_reason=reason,
                removal_voided_at=voided_at,
            )
        )
        return rowcount(result) == 1

    def _fresh(self, session: Session, inst: Installation) -> Installation:
        fresh = session.get(Installation, inst.id, populate_existing=True)
        assert fresh is not None
        return fresh

    def _outcome(self, inst: Installation, step: str, *, reason: str | None = None) -> ActionResult:
        return ActionResult(
            installation_id=inst.id or 0,
            action=Action.REMOVE,
            applied=True,
            state=State(inst.state),
            previous=State(inst.state),
            changed_by=inst.changed_by,
            changed_at=inst.changed_at,
            version=inst.version,
            step=step,
            reason=reason,
            removal_requested_by=inst.removal_requested_by,
        )

    def _refresh_message(self, session: Session, inst: Installation, now: datetime) -> None:
        """Redraw the install message, where the request shows; nothing goes upstream."""
        assert inst.id is not None
        messages.refresh(session, inst.id, default_channel=self.steps.default_channel, now=now)
