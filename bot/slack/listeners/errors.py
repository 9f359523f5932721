"""The one error handler: known failures become a private message a person understands."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import BoltRequest, BoltResponse, Respond

from bot.slack import views
from bot.slack.listeners.surfaces import acting_user, from_home
from bot.slack.services import Services
from bot.slack.signature import headers_signed_by_slack
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


def _verified(request: BoltRequest | None, signing_secret: str | None) -> bool:
    """Whether the request came from Slack: over Socket Mode (Slack's own connection,
    opened with the app token), or over HTTP with a good signature. The HTTP app refuses
    unsigned requests before Bolt; this holds even if something reaches Bolt another way."""
    if request is None:
        return False
    if request.mode == "socket_mode":
        return True
    if not signing_secret:
        return False
    return headers_signed_by_slack(signing_secret, request.raw_body, request.headers)


class ErrorHandler:
    """The one handler (`app.error(ErrorHandler(...).handle)`); `home(user, notice=...)`
    tells someone who clicked on the Home tab, which has no response_url.

    A holder rather than a listener reading Bolt's context: an error may be raised before
    the middleware that puts the services in the context has run.
    """

    def __init__(
        self, signing_secret: str | None = None, home: Callable[..., Any] | None = None
    ) -> None:
        self._signing_secret = signing_secret
        self._home = home

    def handle(
        self,
        error: Exception,
        body: dict[str, Any],
        request: BoltRequest,
        respond: Respond | None,
    ) -> BoltResponse:
        """Answer what a listener raised privately, where the person clicked."""
        if body.get("type") == "view_submission":  # said in the form, which stays open
            view = views.outcome_modal("Nothing changed", reply_for(error).text)
            return BoltResponse(status=200, body={"response_action": "update", "view": view})
        # The response_url and the Home tab are places to post: only for a verified request.
        if _verified(request, self._signing_secret):
            tell_error(error, body, respond, self._home)
        else:
            reply_for(error)  # logged all the same; nobody to tell
        # Slack shows its own failure notice for a 5xx; the private reply says more.
        return BoltResponse(status=200, body="")


def tell_error(
    error: Exception,
    body: Mapping[str, Any],
    respond: Respond | None,
    home: Callable[..., Any] | None,
) -> None:
    """Tell the person whose verified request failed, privately, where they clicked."""
    reply = reply_for(error)
    user = acting_user(body)
    if home is not None and from_home(body) and user is not None:
        home(user, notice=reply.text)
    if respond is not None and body.get("response_url"):
        try:
            respond(**reply.to_dict(), response_type="ephemeral", replace_original=False)
        except Exception:  # the original error is already logged
            log.warning("could not tell the user about error")


def after_ack(
    ctx: Services, body: Mapping[str, Any], respond: Respond | None, work: Callable[[], object]
) -> None:
    """Run `work` once Slack has the ack; what it raises is told as the handler would."""
    ctx.later(work, lambda error: tell_error(error, body, respond, ctx.home.publish))
