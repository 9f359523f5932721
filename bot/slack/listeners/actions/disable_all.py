""" "Disable all" on a customer: opens the reason modal for its enabled applications."""

from __future__ import annotations

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.slack import views
from bot.slack.ids import ActionId, decode_site
from bot.slack.listeners.actions.shared import acked, ask_for, open_modal, value_of
from bot.slack.listeners.surfaces import tell, user_of
from bot.slack.payloads import ButtonAction, Interaction
from bot.slack.services import Services

ACTION_ID = ActionId.DISABLE_ALL.value


def ask_why_disable_all(
    ctx: Services, body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
) -> None:
    """Open the form asking why, listing what it will disable."""
    site_id = value_of(decode_site, ctx, body, action, respond)
    if site_id is None:
        return
    site = ctx.operations.site(site_id)
    if site is None:
        tell(ctx, body, respond, views.not_found("site", site_id))
        return
    enabled = ctx.operations.enabled_at(site.id, user_of(body))
    ask = ask_for(body, kind="disable_all", site_id=site.id, enabled=enabled)
    open_modal(ctx, client, body, respond, views.disable_all_modal(site, ask))


disable_all_button = acked(
    ask_why_disable_all, name="disable_all_button", doc='A customer\'s "Disable all" button.'
)
