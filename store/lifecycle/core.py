"""The Lifecycle class: the Slack-side actions and the SIMS ID event paths together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from store.lifecycle.actions import Actions
from store.lifecycle.bulk import BulkEvents
from store.lifecycle.domain import Action, Change, EventOutcome, InstallEvent
from store.lifecycle.reconcile import Applied, Reconciliation
from store.lifecycle.tally import write_counts
from store.reconcile import Comparison


@dataclass
class Lifecycle(Actions, BulkEvents, Reconciliation):
    """Every state change. `upstream` adds a signed decision to the outbox for each change.

    Each call ends by adding its changes to the installation counts (store/lifecycle/tally.py).
    """

    def act(
        self,
        session: Session,
        *,
        installation_id: int,
        action: Action,
        actor: str,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> Change:
        """Apply `action` by `actor`, unless it is illegal now or someone else got there first
        (see Actions.act)."""
        change = super().act(
            session,
            installation_id=installation_id,
            action=action,
            actor=actor,
            expected_version=expected_version,
            reason=reason,
        )
        write_counts(session)
        return change

    def confirm_removal(
        self, session: Session, *, installation_id: int, actor: str, expected_version: int
    ) -> Change:
        """Carry out another admin's removal request (see Removals.confirm_removal)."""
        change = super().confirm_removal(
            session,
            installation_id=installation_id,
            actor=actor,
            expected_version=expected_version,
        )
        write_counts(session)
        return change

    def apply_events(
        self, session: Session, events: Sequence[InstallEvent], *, notify: bool = True
    ) -> list[EventOutcome]:
        """Apply install events in the order given, each exactly once; one outcome each."""
        outcomes = super().apply_events(session, events, notify=notify)
        write_counts(session)
        return outcomes

    def reconcile(
        self, session: Session, comparison: Comparison, *, notify: bool = False
    ) -> Applied:
        """Make the bot agree with SIMS ID's list (see Reconciliation.reconcile)."""
        applied = super().reconcile(session, comparison, notify=notify)
        write_counts(session)
        return applied

    def apply_event(
        self, session: Session, event: InstallEvent, *, notify: bool = True
    ) -> EventOutcome:
        """Apply one install event exactly once, in occurred_at order per installation."""
        return self.apply_events(session, [event], notify=notify)[0]
