"""`/simsid`: every answer private, acked within Slack's 3 seconds.

Only admins get here (listeners/access.py); what goes wrong is answered by the one error
handler (listeners/errors.py).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from slack_bolt import Ack, BoltContext, Respond

from bot.slack import views
from bot.slack.commands import reveals_secret
from bot.slack.listeners.errors import reply_for
from bot.slack.listeners.surfaces import user_of
from bot.slack.payloads import SlashCommand
from bot.slack.services import services_of
from bot.slack.views import Message

log = logging.getLogger(__name__)


def simsid_command(ack: Ack, command: SlashCommand, respond: Respond, context: BoltContext) -> None:
    """`/simsid <text>`: the answer in the ack, or "working on it" and the answer later."""
    ctx = services_of(context)
    user = user_of(command)
    text = str(command.get("text") or "")
    future = ctx.executor.submit(ctx.commands.run, text, user)
    if reveals_secret(text):
        # The HTTP answer carries no secret: the reply goes through response_url only.
        ack(**views.working_on_it().to_dict(), response_type="ephemeral")
        future.add_done_callback(lambda done: _answer_later(respond, done))
        return
    try:
        # An error raised here goes to the one handler, which answers through response_url.
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
        # Raised here, outside Bolt, an error would never reach @app.error: answer it alike.
        error = done.exception()
        reply = reply_for(error) if error is not None else done.result()
        respond(**reply.to_dict(), response_type="ephemeral", replace_original=True)
    except Exception as exc:  # a callback's exception would only be printed, not handled
        log.warning("could not send a slow /simsid answer: %s", type(exc).__name__)
