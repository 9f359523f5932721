"""The request the work at hand serves (set at the HTTP edge): its id goes with each
outbox item that work queues, so the delivery that performs the item, later and in any
process, logs and sends under the same id."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

CURRENT: ContextVar[str | None] = ContextVar("request_id", default=None)
# Where an outbox item's JSON payload keeps it: no column, so no migration; stripped
# before the payload is used (`split`), so an upstream event is still sent as recorded.
PAYLOAD_KEY = "_request_id"


def stamped(payload: Mapping[str, object] | None) -> dict[str, object] | None:
    """`payload` with the current request id added, when there is one."""
    request_id = CURRENT.get()
    if request_id is None:
        return None if payload is None else dict(payload)
    return {**(payload or {}), PAYLOAD_KEY: request_id}


def split(payload: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
    """(the payload as queued, the request id it carries) from a stored payload."""
    if payload is None or PAYLOAD_KEY not in payload:
        return (None if payload is None else dict(payload)), None
    rest = {k: v for k, v in payload.items() if k != PAYLOAD_KEY}
    request_id = payload[PAYLOAD_KEY]
    # An item that held nothing but the id had no payload of its own.
    return (rest or None), (request_id if isinstance(request_id, str) else None)
