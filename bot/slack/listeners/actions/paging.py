"""Next and Previous on a listing: the page replaces the listing it was clicked on."""

from __future__ import annotations

import re

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot.slack import views
from bot.slack.ids import ActionId, decode_page
from bot.slack.listeners.actions.shared import ack_then
from bot.slack.listeners.surfaces import tell, user_of
from bot.slack.payloads import ButtonAction, Interaction
from bot.slack.services import Services

ACTION_IDS = re.compile(
    "^(" + re.escape(ActionId.PAGE) + "|" + re.escape(ActionId.PAGE_PREVIOUS) + ")$"
)


def page_button(
    ack: Ack,
    body: Interaction,
    action: ButtonAction,
    respond: Respond,
    client: WebClient,
    context: BoltContext,
) -> None:
    """A paging button of a listing."""
    ack_then(turn_page, ack, body, action, respond, client, context)


def turn_page(
    ctx: Services, body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
) -> None:
    """Replace the listing with the page the button names."""
    user = user_of(body)
    try:
        ref = decode_page(action.get("value"))
    except ValueError:
        tell(ctx, body, respond, views.help_message())
        return
    page = ctx.commands.page(ref.command, ref.arg, user, after=ref.after, before=ref.before)
    tell(ctx, body, respond, page, replace=True)
