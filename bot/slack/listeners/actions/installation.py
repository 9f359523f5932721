"""Approve, Enable, Disable and Remove on an installation: Approve and Enable act at once;
Disable and Remove open the reason modal (its submission: listeners/views)."""

from __future__ import annotations

import re

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.slack import views
from bot.slack.ids import INSTALLATION_ACTIONS, ActionId
from bot.slack.listeners.actions.shared import acked, ask_for, done, installation_of, open_modal
from bot.slack.listeners.surfaces import tell, user_of
from bot.slack.payloads import ButtonAction, Interaction
from bot.slack.services import Services
from store.lifecycle import Action

ACTION_IDS = re.compile("^(" + "|".join(re.escape(a) for a in INSTALLATION_ACTIONS) + ")$")
_ASKS_WHY = (Action.DISABLE, Action.REMOVE)


def act_on_installation(
    ctx: Services, body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
) -> None:
    """Act on the installation, or open the form asking why."""
    user = user_of(body)
    decoded = installation_of(ctx, body, action, respond)
    if decoded is None:
        return
    installation_id, version = decoded
    wanted = INSTALLATION_ACTIONS[ActionId(action["action_id"])]
    if wanted in _ASKS_WHY:
        info, refused = ctx.operations.check(
            installation_id=installation_id, version=version, action=wanted, actor=user
        )
        if info is None:
            tell(ctx, body, respond, refused or views.help_message())
            return
        ask = ask_for(body, kind=wanted.value, installation_id=info.id, version=info.version)
        if wanted is Action.DISABLE:
            view = views.disable_modal(info, ask)
        else:
            view = views.remove_modal(info, ask, two_person=ctx.remove_approvals > 1)
        open_modal(ctx, client, body, respond, view)
        return
    applied, reply = ctx.operations.act(
        installation_id=installation_id, version=version, action=wanted, actor=user
    )
    done(ctx, body, respond, applied, reply)


installation_button = acked(
    act_on_installation, name="installation_button", doc="One of an installation's action buttons."
)
