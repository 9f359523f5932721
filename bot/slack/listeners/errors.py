"""The one error handler: known failures become a private message a person understands."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from slack_bolt import App, BoltResponse

from bot.slack import views
from bot.slack.views import Message
from store.db import DatabaseUnavailable

log = logging.getLogger("bot.errors")


def reply_for(error: BaseException) -> Message:
    """The private reply for an exception; unexpected ones are logged with a quotable id."""
    if isinstance(error, DatabaseUnavailable):
        log.warning("database unavailable: %s", error)
        return views.database_unavailable()
    error_id = uuid.uuid4().hex[:8]
    # Log the type and the traceback, never request bodies (they may hold secrets).
    log.error("unexpected error %s: %s", error_id, type(error).__name__, exc_info=error)
    return views.unexpected_error(error_id)


def register(app: App) -> None:
    @app.error
    def handle(error: Exception, body: dict[str, Any], respond: Any) -> BoltResponse:
        reply = reply_for(error)
        if respond is not None and body.get("response_url"):
            try:
                respond(**reply.to_dict(), response_type="ephemeral", replace_original=False)
            except Exception:  # the original error is already logged
                log.warning("could not tell the user about error")
        # Slack shows its own failure notice for a 5xx; the private reply says more.
        return BoltResponse(status=200, body="")
