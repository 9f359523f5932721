"""The signed install webhook, `POST /simsid/events`: verify, validate, store, answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.simsid import signing
from bot.simsid.schema import BadEvent, parse_event
from store.db import Database, DatabaseUnavailable
from store.lifecycle import ConcurrentChange, EventOutcome, Lifecycle

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
CONCURRENT_RETRIES = 3


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, str]


class Webhook:
    """Turns one HTTP request into one answer; the event is committed before it answers."""

    def __init__(
        self,
        db: Database,
        lifecycle: Lifecycle,
        secrets: list[str],
        *,
        on_accepted: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._lifecycle = lifecycle
        self._secrets = secrets
        self._on_accepted = on_accepted

    def handle(self, signature_header: str | None, body: bytes) -> Answer:
        if len(body) > MAX_BODY_BYTES:
            return Answer(413, {"error": f"body is over {MAX_BODY_BYTES} bytes"})
        if not self._secrets:
            log.error("install event refused: SIMSID_WEBHOOK_SECRET is not set")
            return Answer(503, {"error": "the webhook is not configured; send again later"})
        if not signing.verify(signature_header, body, self._secrets):
            log.warning("install event refused: signature missing, wrong or stale")
            return Answer(401, {"error": "signature missing, wrong or outside the time window"})
        try:
            event = parse_event(body)
        except BadEvent as exc:
            log.info("install event rejected: %s", exc)
            return Answer(400, {"error": str(exc)})
        try:
            outcome = self._apply(event)
        except DatabaseUnavailable as exc:
            log.warning("install event %s deferred: database unavailable (%s)", event.id, exc)
            return Answer(503, {"error": "the database is unavailable; send again later"})
        log.info("install event %s (%s): %s", event.id, event.type, outcome)
        if outcome is EventOutcome.DUPLICATE:
            return Answer(200, {"status": "duplicate"})
        self._on_accepted()
        if outcome is EventOutcome.STALE:
            return Answer(202, {"status": "accepted", "note": "older than the last change"})
        return Answer(202, {"status": "accepted"})

    def _apply(self, event: object) -> EventOutcome:
        for attempt in range(CONCURRENT_RETRIES):
            try:
                with self._db.session() as session:
                    return self._lifecycle.apply_event(session, event)  # type: ignore[arg-type]
            except ConcurrentChange:
                if attempt == CONCURRENT_RETRIES - 1:
                    raise DatabaseUnavailable("the installation kept changing") from None
        raise AssertionError("unreachable")
