"""Next and Previous on a listing: the page replaces the listing it was clicked on."""

from __future__ import annotations

import re

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.slack.ids import ActionId, decode_page
from bot.slack.listeners.actions.shared import acked, value_of
from bot.slack.listeners.surfaces import tell, user_of
from bot.slack.payloads import ButtonAction, Interaction
from bot.slack.services import Services

ACTION_IDS = re.compile(
    "^(" + re.escape(ActionId.PAGE) + "|" + re.escape(ActionId.PAGE_PREVIOUS) + ")$"
)


def turn_page(
    ctx: Services, body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
) -> None:
    """Replace the listing with the page the button names."""
    user = user_of(body)
    ref = value_of(decode_page, ctx, body, action, respond)
    if ref is None:
        return
    page = ctx.commands.page(ref.command, ref.arg, user, after=ref.after, before=ref.before)
    tell(ctx, body, respond, page, replace=True)


page_button = acked(turn_page, name="page_button", doc="A paging button of a listing.")
