""" "Approve from a list" (a listing's or the App Home's button, or `/simsid approve APP`):
opens the list modal for one application."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.slack import views
from bot.slack.ids import ActionId, DecideAsk, decode_decide
from bot.slack.listeners.actions.shared import acked, open_modal, value_of
from bot.slack.listeners.surfaces import tell, user_of
from bot.slack.payloads import ButtonAction, Interaction
from bot.slack.services import Services
from bot.slack.views.decide import list_modal

# The App Home's buttons are numbered (unique within their block): every one is ours.
ACTION_ID = re.compile(rf"^{ActionId.DECIDE_LIST.value}(_[0-9]+)?$")


def open_list(
    ctx: Services, body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
) -> None:
    """Open the list modal for the button's application."""
    ask = value_of(decode_decide, ctx, body, action, respond)
    if ask is None:
        return
    open_list_for(ctx, client, body, respond, ask.kind, ask.app)


decide_list_button = acked(
    open_list, name="decide_list_button", doc='An "Approve from a list" button.'
)


def open_list_for(
    ctx: Services,
    client: WebClient,
    body: Mapping[str, Any],
    respond: Respond,
    kind: str,
    app_text: str,
) -> None:
    """Open the list modal for the application whose id, slug or name is `app_text`."""
    app = ctx.operations.application(app_text)
    if app is None:
        tell(ctx, body, respond, views.not_found("application", app_text))
        return
    refusal = ctx.operations.app_refused(user_of(body), app.id)
    if refusal is not None:
        tell(ctx, body, respond, refusal)
        return
    view = list_modal(DecideAsk(kind, app.id), app.name)
    open_modal(ctx, client, body, respond, view)  # type: ignore[arg-type]
