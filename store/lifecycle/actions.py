"""Slack-side actions: approve, enable, disable, remove, and revealing a secret."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from store.actors import is_person
from store.lifecycle.base import Steps
from store.lifecycle.domain import (
    TRANSITIONS,
    Action,
    ActionResult,
    NotEnabled,
    NotFound,
    Secret,
    clean_reason,
)
from store.lifecycle.removals import Removals
from store.lifecycle.rules import MOVES, MoveName
from store.models import Credential, CredentialOrigin, Installation, State


@dataclass
class Actions:
    """What people do from Slack."""

    steps: Steps
    removals: Removals

    def act(
        self,
        session: Session,
        *,
        installation_id: int,
        action: Action,
        actor: str,
        expected_version: int | None = None,
        reason: str | None = None,
        detail: str | None = None,
    ) -> ActionResult:
        """Apply `action` by `actor`, unless it is illegal now or someone else got there first.

        `reason` is why, in the actor's words: kept in the audit row, on the installation
        (its message shows it) and in the upstream decision. With `remove_approvals` 2,
        a person's Remove only records a removal request (a reason is required), which
        another admin's `confirm_removal` carries out; SIMS ID and the bot's own paths
        (reconciling, imports) are not people and remove at once.
        """
        inst = session.get(Installation, installation_id, populate_existing=True)
        if inst is None:
            raise NotFound(installation_id)
        target = TRANSITIONS[action].get(inst.state)
        if expected_version is not None and expected_version != inst.version:
            return self.steps.refused(inst, action, "stale")
        if target is None:
            return self.steps.refused(inst, action, "illegal")
        reason = clean_reason(reason)
        if action is Action.REMOVE and self.steps.remove_approvals > 1 and is_person(actor):
            return self.removals.request_removal(session, inst, actor=actor, reason=reason)
        source = State(inst.state)
        move = MOVES[MoveName(action.value)]
        if not self.steps.move(session, inst, move, actor=actor, reason=reason, detail=detail):
            fresh = session.get(Installation, installation_id, populate_existing=True)
            assert fresh is not None
            return self.steps.refused(fresh, action, "stale")
        return ActionResult(
            installation_id=installation_id,
            action=action,
            applied=True,
            state=target,
            previous=source,
            changed_by=actor,
            changed_at=inst.changed_at,
            version=inst.version,
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
        """`action` on each (installation id, version) unchanged since it was seen, by the
        same rules as act(): one audit row each, its detail naming the batch; an
        installation changed since (or gone) is refused as stale, never changed."""
        changes = []
        for installation_id, version in pairs:
            try:
                change = self.act(
                    session,
                    installation_id=installation_id,
                    action=action,
                    actor=actor,
                    expected_version=version,
                    reason=reason,
                    detail=f"batch {batch}",
                )
            except NotFound:
                continue
            changes.append(change)
        return changes

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
        self.steps.audit(session, inst, actor=actor, action="secret_viewed", from_state=inst.state)
        # Flush now: if the audit row cannot be written, the secret is not shown.
        session.flush()
        return Secret(
            client_key=credential.client_key,
            client_secret=credential.secret,
            origin=CredentialOrigin(credential.origin),
        )
