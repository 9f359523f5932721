"""The Lifecycle class: the Slack-side actions and the SIMS ID event paths together."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from store.lifecycle.actions import Actions
from store.lifecycle.bulk import BulkEvents
from store.lifecycle.domain import EventOutcome, InstallEvent
from store.lifecycle.reconcile import Reconciliation
from store.lifecycle.removals import Removals
from store.lifecycle.tally import counted


@dataclass
class Lifecycle(Actions, BulkEvents, Reconciliation):
    """Every state change. `upstream` adds a signed decision to the outbox for each change.

    Each call that can change a state ends by adding its changes to the installation
    counts (store/lifecycle/tally.py).
    """

    act = counted(Actions.act)
    confirm_removal = counted(Removals.confirm_removal)
    apply_events = counted(BulkEvents.apply_events)
    reconcile = counted(Reconciliation.reconcile)

    def apply_event(
        self, session: Session, event: InstallEvent, *, notify: bool = True
    ) -> EventOutcome:
        """Apply one install event exactly once, in occurred_at order per installation."""
        return self.apply_events(session, [event], notify=notify)[0]
