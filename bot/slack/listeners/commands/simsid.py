"""`/simsid`: every answer private, acked within Slack's 3 seconds (listeners/deadline.py).

Only admins get here (listeners/access.py); what goes wrong is answered by the one error
handler (listeners/errors.py).
"""

from __future__ import annotations

from slack_bolt import Ack, BoltContext, Respond

from bot.slack import views
from bot.slack.commands import reveals_secret
from bot.slack.listeners.deadline import Deadline
from bot.slack.listeners.errors import reply_for
from bot.slack.listeners.surfaces import private, user_of
from bot.slack.payloads import SlashCommand
from bot.slack.services import services_of
from bot.slack.views import Message


def simsid_command(ack: Ack, command: SlashCommand, respond: Respond, context: BoltContext) -> None:
    """`/simsid <text>`: the answer in the ack, or "working on it" and the answer later."""
    ctx = services_of(context)
    user = user_of(command)
    text = str(command.get("text") or "")
    answer = Deadline(ctx, lambda: ctx.commands.run(text, user))
    # The HTTP answer never carries a secret (a replayed signed request would read it):
    # that reply goes through the response_url only.
    reply = answer.answer(wait=not reveals_secret(text))
    if reply is not None:
        ack(**reply.to_dict(), response_type="ephemeral")
        return
    ack(**views.working_on_it().to_dict(), response_type="ephemeral")

    def send(late: Message) -> None:
        private(respond, late, replace=True)

    answer.follow_up(send, lambda error: send(reply_for(error)))
