"""The Lifecycle: one object holding the parts that change installations."""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from store.lifecycle.actions import Actions
from store.lifecycle.base import Steps
from store.lifecycle.bulk import BulkEvents
from store.lifecycle.domain import Action, ActionResult, EventResult, InstallEvent, Secret
from store.lifecycle.events import OneEvent
from store.lifecycle.removals import Removals
from store.lifecycle.tally import counting
from store.models import utcnow


@dataclass
class Lifecycle:
    """Every state change. `upstream` adds a signed decision to the outbox for each change.

    Each call that can change a state keeps the installation counts in its transaction
    (store/lifecycle/tally.py).
    """

    upstream: bool = False
    default_channel: str | None = None
    clock: Callable[[], datetime] = utcnow
    # SIMSID_REMOVE_APPROVALS: with 2, Remove records a request another admin confirms.
    remove_approvals: int = 1
    # The one-installation moves every part shares; SIMS ID's list is applied with them
    # too, from outside the package (docs/lifecycle.md, "Where the rules live").
    steps: Steps = field(init=False, repr=False)
    _removals: Removals = field(init=False, repr=False)
    _actions: Actions = field(init=False, repr=False)
    _events: BulkEvents = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.steps = steps = Steps(
            upstream=self.upstream,
            default_channel=self.default_channel,
            clock=self.clock,
            remove_approvals=self.remove_approvals,
        )
        self._removals = Removals(steps)
        self._actions = Actions(steps, self._removals)
        self._events = BulkEvents(steps, OneEvent(steps))

    def act(
        self,
        session: Session,
        *,
        installation_id: int,
        action: Action,
        actor: str,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> ActionResult:
        """Apply `action` by `actor`, unless it is illegal now or someone else got there
        first (store/lifecycle/actions.py)."""
        with counting(session):
            return self._actions.act(
                session,
                installation_id=installation_id,
                action=action,
                actor=actor,
                expected_version=expected_version,
                reason=reason,
            )

    def act_batch(
        self,
        session: Session,
        *,
        pairs: Sequence[tuple[int, int]],
        action: Action,
        actor: str,
        batch: str,
        reason: str | None = None,
    ) -> list[ActionResult]:
        """`action` on each (installation id, version) unchanged since it was seen: act()'s
        rules, one audit row each naming the batch (store/lifecycle/actions.py)."""
        with counting(session):
            return self._actions.act_batch(
                session, pairs=pairs, action=action, actor=actor, batch=batch, reason=reason
            )

    def reveal_secret(self, session: Session, *, installation_id: int, actor: str) -> Secret:
        """The client key and secret of an enabled installation, audited in this transaction."""
        return self._actions.reveal_secret(session, installation_id=installation_id, actor=actor)

    def confirm_removal(
        self,
        session: Session,
        *,
        installation_id: int,
        actor: str,
        expected_version: int,
        revoked: Container[str] = (),
    ) -> ActionResult:
        """Carry out another admin's removal request (store/lifecycle/removals.py)."""
        with counting(session):
            return self._removals.confirm_removal(
                session,
                installation_id=installation_id,
                actor=actor,
                expected_version=expected_version,
                revoked=revoked,
            )

    def cancel_removal(
        self, session: Session, *, installation_id: int, actor: str, expected_version: int
    ) -> ActionResult:
        """Withdraw an open removal request; any admin may, the requester included."""
        return self._removals.cancel_removal(
            session, installation_id=installation_id, actor=actor, expected_version=expected_version
        )

    def apply_events(
        self, session: Session, events: Sequence[InstallEvent], *, notify: bool = True
    ) -> list[EventResult]:
        """Apply install events in the order given, each exactly once; one outcome each
        (store/lifecycle/bulk.py)."""
        with counting(session):
            return self._events.apply_events(session, events, notify=notify)

    def apply_event(
        self, session: Session, event: InstallEvent, *, notify: bool = True
    ) -> EventResult:
        """Apply one install event exactly once, in occurred_at order per installation."""
        return self.apply_events(session, [event], notify=notify)[0]
