"""Confirm or cancel another admin's removal request (the two-person rule)."""

from __future__ import annotations

import re

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.slack.ids import ActionId
from bot.slack.listeners.actions.shared import acked, done, installation_of
from bot.slack.listeners.surfaces import user_of
from bot.slack.payloads import ButtonAction, Interaction
from bot.slack.services import Services

ACTION_IDS = re.compile(
    "^(" + re.escape(ActionId.CONFIRM_REMOVAL) + "|" + re.escape(ActionId.CANCEL_REMOVAL) + ")$"
)


def decide_removal(
    ctx: Services, body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
) -> None:
    """Confirm or withdraw the removal request."""
    user = user_of(body)
    decoded = installation_of(ctx, body, action, respond)
    if decoded is None:
        return
    installation_id, version = decoded
    step = (
        ctx.operations.confirm_removal
        if action["action_id"] == ActionId.CONFIRM_REMOVAL
        else ctx.operations.cancel_removal
    )
    applied, reply = step(installation_id=installation_id, version=version, actor=user)
    done(ctx, body, respond, applied, reply)


removal_button = acked(
    decide_removal, name="removal_button", doc="Confirm removal, or Cancel the request."
)
