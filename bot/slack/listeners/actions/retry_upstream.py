"""Retry on a decision SIMS ID has not taken: send it again now."""

from __future__ import annotations

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.slack import views
from bot.slack.ids import ActionId, decode_outbox
from bot.slack.listeners.actions.shared import acked
from bot.slack.listeners.surfaces import tell, user_of
from bot.slack.payloads import ButtonAction, Interaction
from bot.slack.services import Services

ACTION_ID = ActionId.RETRY_UPSTREAM.value


def retry_decision(
    ctx: Services, body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
) -> None:
    """Queue the decision again; say so when there is nothing to retry."""
    try:
        outbox_id = decode_outbox(action.get("value"))
    except ValueError:  # not a value this button carries: nothing it names can be retried
        outbox_id = None
    refusal = (
        None
        if outbox_id is None
        else ctx.operations.retry_refused(outbox_id=outbox_id, actor=user_of(body))
    )
    if refusal is not None:
        tell(ctx, body, respond, refusal)
        return
    if outbox_id is None or not ctx.operations.retry_upstream(outbox_id=outbox_id):
        tell(ctx, body, respond, views.help_message("That decision is not waiting for a retry."))


retry_upstream_button = acked(
    retry_decision, name="retry_upstream_button", doc="A failed decision's Retry button."
)
