"""Extend on a disabled installation's message: the picker that moves its window's end."""

from __future__ import annotations

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.slack import views
from bot.slack.ids import ActionId
from bot.slack.listeners.actions.shared import acked, ask_for, installation_of, open_modal
from bot.slack.listeners.surfaces import tell, user_of
from bot.slack.payloads import ButtonAction, Interaction
from bot.slack.services import Services

ACTION_ID = ActionId.EXTEND.value


def open_extend(
    ctx: Services, body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
) -> None:
    """The picker for a live window, or why there is none."""
    decoded = installation_of(ctx, body, action, respond)
    if decoded is None:
        return
    info, refused = ctx.operations.window(
        installation_id=decoded[0], version=decoded[1], actor=user_of(body)
    )
    if info is None or info.disabled_until is None:
        tell(ctx, body, respond, refused or views.help_message())
        return
    ask = ask_for(body, kind="extend", installation_id=info.id, version=info.version)
    until = int(info.disabled_until.timestamp())
    open_modal(ctx, client, body, respond, views.extend_modal(info, ask, until))


extend_button = acked(
    open_extend, name="extend_button", doc="Extend: open the picker, at the window's end now."
)
