"""The signed decision that the outbox sends upstream to SIMS ID after each change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NotRequired, TypedDict

from sqlmodel import Session

from store import user_emails
from store.lifecycle.domain import RESERVED_ACTORS, WINDOW_ACTOR_PREFIX
from store.models import Application, Credential, Installation, Site


class Actor(TypedDict, total=False):
    """Who decided: a Slack user, or the system (SIMS ID itself, an import, a job)."""

    slack_user: str
    system: str


class DecisionApplication(TypedDict):
    id: str
    name: str


class DecisionSite(TypedDict):
    id: str
    name: str
    urn: str | None
    dfe_number: str | None


class DecisionPayload(TypedDict):
    """The body of one decision sent upstream (docs/upstream.md)."""

    id: str
    type: str  # installation.<state>
    occurred_at: str  # ISO 8601, UTC, with a Z
    actor: Actor
    application: DecisionApplication
    site: DecisionSite
    client_key: str | None
    reason: str | None  # the actor's own words for the change, if any
    # The actor's email as Slack knows it; absent until known, filled in by the upstream
    # lane before the first send (store/user_emails.py); None for the system.
    actor_email: NotRequired[str | None]


def decision_payload(
    session: Session, inst: Installation, actor: str, now: datetime
) -> DecisionPayload:
    """The payload of an upstream outbox row for the change just made to `inst`."""
    app = session.get(Application, inst.application_id)
    site = session.get(Site, inst.site_id)
    assert app is not None and site is not None
    credential = session.get(Credential, inst.id)
    system = actor in RESERVED_ACTORS or actor.startswith(WINDOW_ACTOR_PREFIX)
    who: Actor = {"system": actor} if system else {"slack_user": actor}
    payload: DecisionPayload = {
        "id": f"dec_{uuid.uuid4().hex}",
        "type": f"installation.{inst.state}",
        "occurred_at": now.isoformat().replace("+00:00", "Z"),
        "actor": who,
        "application": {"id": app.id, "name": app.name},
        "site": {
            "id": site.id,
            "name": site.name,
            "urn": site.urn,
            "dfe_number": site.dfe_number,
        },
        "client_key": credential.client_key if credential else None,
        # The actor's reason for this change (for a confirmed two-person removal, the
        # requester's); None when none was given.
        "reason": inst.change_reason,
    }
    email = user_emails.known(session, actor, now=now)
    if email is not None:
        payload["actor_email"] = email.email
    return payload
