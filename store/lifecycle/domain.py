"""The lifecycle's vocabulary: actions and their transitions, results, events, errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from store.models import (
    CredentialOrigin,
    Installation,
    RemovalRequestStatus,
    State,
    removal_request_status,
)

SIMS_ID = "sims-id"  # the actor for changes that SIMS ID reports
# Actors that are not people: SIMS ID, and the bot's own paths (imports, reconciling).
# None has a Slack user id's shape (is_person), so no Slack request can act as one.
RESERVED_ACTORS = frozenset({SIMS_ID, "system", "import"})
# A maintenance window's Enable (store/windows.py): "maintenance window by <@U…>", which
# is not a person either (a Slack request cannot act as it).
WINDOW_ACTOR_PREFIX = "maintenance window by "


class Action(StrEnum):
    APPROVE = "approve"
    ENABLE = "enable"
    DISABLE = "disable"
    REMOVE = "remove"


# Which action is legal from which state (the diagram of docs/lifecycle.md): action ->
# {from state: to state}. What each move then does is in rules.MOVES.
TRANSITIONS: dict[Action, dict[State, State]] = {
    Action.APPROVE: {State.PENDING: State.ENABLED},
    Action.ENABLE: {State.DISABLED: State.ENABLED},
    Action.DISABLE: {State.PENDING: State.DISABLED, State.ENABLED: State.DISABLED},
    Action.REMOVE: {State.PENDING: State.REMOVED, State.DISABLED: State.REMOVED},
}
# Every listing row asks: worked out once.
_ALLOWED: dict[State, tuple[Action, ...]] = {
    state: tuple(action for action in Action if state in TRANSITIONS[action]) for state in State
}


def allowed_actions(state: State) -> list[Action]:
    """The actions valid from `state`, in the order buttons show them."""
    return list(_ALLOWED[state])


class NotFound(LookupError):
    """No installation with that id."""


class NotEnabled(Exception):
    """A secret was asked for an installation that is not enabled."""

    def __init__(self, state: State) -> None:
        super().__init__(f"the installation is {state}")
        self.state = state


@dataclass(frozen=True)
class ActionResult:
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
    # changed it since the asker saw it, or won a race); for the two-person rule also
    # "reason_required", "requested" (someone already asked), "no_request" and
    # "own_request" (the requester may not confirm).
    refusal: str | None = None
    # The two-person rule's step: "requested", "confirmed" or "cancelled"; None otherwise.
    step: str | None = None
    reason: str | None = None
    # Who has asked to remove it, while the request is open.
    removal_requested_by: str | None = None


class ConcurrentChange(Exception):
    """An event raced another change to the same installation; the caller retries."""


@dataclass(frozen=True)
class Secret:
    client_key: str
    client_secret: str
    origin: CredentialOrigin = CredentialOrigin.BOT  # generated here, or SIMS ID's report


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


class EventResult(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    STALE = "stale"  # acknowledged and audited, changed nothing


def clean_reason(reason: str | None) -> str | None:
    """A reason with its whitespace collapsed; None when there is nothing in it."""
    cleaned = " ".join((reason or "").split())
    return cleaned or None


def open_request(inst: Installation) -> str | None:
    """Who asked to remove `inst`, while that request waits for a second admin; None when
    there is none, or it is void (see lifecycle/removals.py)."""
    status = removal_request_status(inst.removal_requested_at, inst.removal_voided_at)
    return inst.removal_requested_by if status is RemovalRequestStatus.OPEN else None
