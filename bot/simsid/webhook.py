"""The signed install webhook, `POST /simsid/events`: verify, validate, store, answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot import metrics
from bot.simsid import signing
from bot.simsid.schema import BadEvent, parse_event
from store.db import Database, DatabaseUnavailable
from store.group_commit import GroupCommit
from store.lifecycle import EventResult, Lifecycle

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    body: dict[str, str]


class Webhook:
    """Turns one HTTP request into one answer; the event is committed before it answers.

    Events of concurrent requests share a transaction (store/group_commit.py): each
    request is answered once the commit holding its event is done.
    """

    def __init__(
        self,
        db: Database,
        lifecycle: Lifecycle,
        secrets: list[str],
        *,
        on_accepted: Callable[[], None] = lambda: None,
    ) -> None:
        self._committer = GroupCommit(db, lifecycle)
        self._secrets = secrets
        self._on_accepted = on_accepted

    def handle(self, signature_header: str | None, body: bytes) -> WebhookResponse:
        """Verify, validate and store one event; the answer docs/webhook.md gives for it."""
        if len(body) > MAX_BODY_BYTES:
            metrics.webhook_event("refused_size")
            return WebhookResponse(413, {"error": f"body is over {MAX_BODY_BYTES} bytes"})
        if not self._secrets:
            log.error("install event refused: SIMSID_WEBHOOK_SECRET is not set")
            metrics.webhook_event("unavailable")
            return WebhookResponse(
                503, {"error": "the webhook is not configured; send again later"}
            )
        if not signing.verify(signature_header, body, self._secrets):
            log.warning("install event refused: signature missing, wrong or stale")
            metrics.webhook_event("refused_signature")
            return WebhookResponse(
                401, {"error": "signature missing, wrong or outside the time window"}
            )
        try:
            event = parse_event(body)
        except BadEvent as exc:
            log.info("install event rejected: %s", exc)
            metrics.webhook_event("refused_shape")
            return WebhookResponse(400, {"error": str(exc)})
        try:
            outcome = self._committer.apply(event)
        except DatabaseUnavailable as exc:
            log.warning("install event %s deferred: database unavailable (%s)", event.id, exc)
            metrics.webhook_event("unavailable")
            return WebhookResponse(503, {"error": "the database is unavailable; send again later"})
        except Exception as exc:
            # Its own failure, not its batch's: the others were stored one by one.
            why = (str(exc).splitlines() or [""])[0][:200]
            log.error("install event %s not stored: %s: %s", event.id, type(exc).__name__, why)
            metrics.webhook_event("failed")
            return WebhookResponse(500, {"error": "the event could not be stored"})
        log.info("install event %s (%s): %s", event.id, event.type, outcome)
        if outcome is EventResult.DUPLICATE:
            metrics.webhook_event("duplicate")
            return WebhookResponse(200, {"status": "duplicate"})
        self._on_accepted()
        if outcome is EventResult.STALE:
            metrics.webhook_event("stale")
            return WebhookResponse(
                202, {"status": "accepted", "note": "older than the last change"}
            )
        metrics.webhook_event("accepted")
        return WebhookResponse(202, {"status": "accepted"})
