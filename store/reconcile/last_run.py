"""The record of the last scheduled reconciliation, for /healthz and the metrics (any
process may serve them; only the one that won the period's claim writes it)."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from store.models import Meta
from store.vault import VaultError

LAST_RUN_KEY = "reconcile:last"


def record_run(session: Session, summary: dict[str, Any]) -> None:
    """Remember how the latest scheduled reconciliation went (plain JSON-able values).

    Only the process that won the period's claim writes it, so writers do not race.
    """
    session.merge(Meta(key=LAST_RUN_KEY, value=json.dumps(summary)))


def last_run(session: Session) -> dict[str, Any] | None:
    """How the latest scheduled reconciliation went, or None if none has run."""
    try:
        row = session.get(Meta, LAST_RUN_KEY, populate_existing=True)
        if row is None or row.value is None:
            return None
        loaded: dict[str, Any] = json.loads(row.value)
    except (VaultError, ValueError):
        # A health check must answer even when the record cannot be read.
        return {"status": "unknown"}
    return loaded
