"""The signed decision that the outbox sends upstream to SIMS ID after each change."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session

from store.lifecycle.domain import SIMS_ID
from store.models import Application, Credential, Installation, Site


def decision_payload(
    session: Session, inst: Installation, actor: str, now: datetime
) -> dict[str, object]:
    """The payload of an upstream outbox row for the change just made to `inst`."""
    app = session.get(Application, inst.application_id)
    site = session.get(Site, inst.site_id)
    assert app is not None and site is not None
    credential = session.get(Credential, inst.id)
    who = {"system": actor} if actor in (SIMS_ID, "system", "import") else {"slack_user": actor}
    return {
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
