"""`/simsid`: admins only, every answer private, acked within Slack's 3 seconds."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.slack import views
from bot.slack.context import BotContext
from bot.slack.listeners.errors import reply_for
from bot.slack.views import Message

log = logging.getLogger(__name__)


def register(app: App, ctx: BotContext) -> None:
    app.command("/simsid")(lambda ack, command, respond: slash(ack, command, respond, ctx))


def slash(ack: Ack, command: dict[str, Any], respond: Respond, ctx: BotContext) -> None:
    user = str(command.get("user_id") or "")
    text = str(command.get("text") or "")

    def answer() -> Message:
        try:
            if not ctx.admins.is_admin(user):
                log.info("refused /simsid from non-admin %s", user)
                return views.not_allowed()
            return ctx.commands.run(text, user)
        except Exception as exc:  # turned into a reply by the one handler
            return reply_for(exc)

    future = ctx.executor.submit(answer)
    try:
        reply = future.result(timeout=ctx.answer_deadline)
    except FutureTimeout:
        # Slack shows operation_timeout after 3 seconds: ack now, answer when ready, from
        # the answer's own thread rather than holding a Bolt listener thread meanwhile.
        ack(**views.working_on_it().to_dict(), response_type="ephemeral")
        future.add_done_callback(lambda done: _answer_later(respond, done))
        return
    ack(**reply.to_dict(), response_type="ephemeral")


def _answer_later(respond: Respond, done: Future[Message]) -> None:
    try:
        respond(**done.result().to_dict(), response_type="ephemeral", replace_original=True)
    except Exception as exc:  # a callback's exception would only be printed, not handled
        log.warning("could not send a slow /simsid answer: %s", type(exc).__name__)
