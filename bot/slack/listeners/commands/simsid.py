"""`/simsid`: every answer private, acked within Slack's 3 seconds (listeners/deadline.py).

Only admins get here (listeners/access.py); what goes wrong is answered by the one error
handler (listeners/errors.py).
"""

from __future__ import annotations

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot.slack import views
from bot.slack.commands import reveals_secret, split_words, unescape
from bot.slack.ids import DECIDE_KINDS
from bot.slack.listeners.actions.decide_list import open_list_for
from bot.slack.listeners.deadline import Deadline
from bot.slack.listeners.errors import after_ack, reply_for
from bot.slack.listeners.surfaces import private, user_of
from bot.slack.payloads import SlashCommand
from bot.slack.services import services_of
from bot.slack.views import Message


def simsid_command(ack: Ack, command: SlashCommand, respond: Respond, context: BoltContext) -> None:
    """`/simsid <text>`: the answer in the ack, or "working on it" and the answer later;
    `/simsid approve|disable APP` opens the list modal."""
    ctx = services_of(context)
    user = user_of(command)
    text = str(command.get("text") or "")
    words = split_words(unescape(text))
    if len(words) >= 2 and words[0].lower() in DECIDE_KINDS:
        kind, app = words[0].lower(), " ".join(words[1:])
        ack()  # the modal opens with the command's trigger_id, valid 3 s: straight after
        client: WebClient = context.client
        after_ack(
            ctx, command, respond, lambda: open_list_for(ctx, client, command, respond, kind, app)
        )
        return
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
