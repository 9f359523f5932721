"""Buttons: installation actions, paging, "disable all" and retrying an upstream decision.

Approve and Enable act at once; Disable, Remove and "disable all" open a modal asking
why (see listeners/decisions.py for its submission). Only admins get here
(listeners/access.py), and what goes wrong is answered by the one error handler
(listeners/errors.py): each listener acks at once, then does its one thing and replies
once Slack has the ack (errors.after_ack).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.slack import views
from bot.slack.context import BotContext
from bot.slack.ids import (
    INSTALLATION_ACTIONS,
    ActionId,
    ReasonAsk,
    decode_installation,
    decode_page,
    decode_site,
)
from bot.slack.listeners.errors import after_ack
from bot.slack.listeners.surfaces import from_ephemeral, from_home, tell, user_of
from bot.slack.payloads import ButtonAction, Interaction
from store.lifecycle import Action

log = logging.getLogger(__name__)

_INSTALLATION = re.compile("^(" + "|".join(re.escape(a) for a in INSTALLATION_ACTIONS) + ")$")
_PAGING = re.compile(
    "^(" + re.escape(ActionId.PAGE) + "|" + re.escape(ActionId.PAGE_PREVIOUS) + ")$"
)
_REMOVAL = re.compile(
    "^(" + re.escape(ActionId.CONFIRM_REMOVAL) + "|" + re.escape(ActionId.CANCEL_REMOVAL) + ")$"
)
_ASKS_WHY = (Action.DISABLE, Action.REMOVE)

# What a button does once acked: (body, action, respond, client).
Work = Callable[[Interaction, ButtonAction, Respond, WebClient], None]


def _ask(body: Interaction, **fields: Any) -> ReasonAsk:
    """What the modal will do, and where its outcome is told."""
    response_url = body.get("response_url") if from_ephemeral(body) else None
    return ReasonAsk(response_url=response_url, home=from_home(body), **fields)


def open_modal(
    ctx: BotContext, client: WebClient, body: Interaction, respond: Respond, view: dict[str, Any]
) -> None:
    """views.open with the click's trigger_id (valid for 3 seconds, so straight after ack)."""
    try:
        client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
    except Exception as exc:  # Slack said no (an expired trigger): say so, change nothing
        log.warning("views.open failed: %s", type(exc).__name__)
        tell(ctx, body, respond, views.help_message("Slack would not open the form: try again."))


def register(app: App, ctx: BotContext) -> None:
    def done(body: Interaction, respond: Respond, applied: bool, reply: views.Message) -> None:
        # The channel message updates itself; say something only when it did not happen,
        # or when the click came from a private listing or the Home tab.
        if from_home(body) or not applied or from_ephemeral(body):
            tell(ctx, body, respond, reply)

    def installation_of(
        body: Interaction, action: ButtonAction, respond: Respond
    ) -> tuple[int, int] | None:
        """The (installation, version) a button carries; None, after saying so, if tampered."""
        try:
            return decode_installation(action.get("value"))
        except ValueError:
            tell(ctx, body, respond, views.help_message("That button is not one of mine."))
            return None

    def acked(work: Work) -> Callable[..., None]:
        """A listener that acks at once and does `work` once Slack has the ack."""

        def listener(
            ack: Ack, body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
        ) -> None:
            ack()
            after_ack(ctx, body, respond, lambda: work(body, action, respond, client))

        return listener

    def installation_button(
        body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
    ) -> None:
        user = user_of(body)
        decoded = installation_of(body, action, respond)
        if decoded is None:
            return
        installation_id, version = decoded
        wanted = INSTALLATION_ACTIONS[ActionId(action["action_id"])]
        if wanted in _ASKS_WHY:
            info, refused = ctx.operations.check(
                installation_id=installation_id, version=version, action=wanted
            )
            if info is None:
                tell(ctx, body, respond, refused or views.help_message())
                return
            ask = _ask(body, kind=wanted.value, installation_id=info.id, version=info.version)
            if wanted is Action.DISABLE:
                view = views.disable_modal(info, ask)
            else:
                view = views.remove_modal(info, ask, two_person=ctx.remove_approvals > 1)
            open_modal(ctx, client, body, respond, view)
            return
        applied, reply = ctx.operations.act(
            installation_id=installation_id, version=version, action=wanted, actor=user
        )
        done(body, respond, applied, reply)

    def removal_button(
        body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
    ) -> None:
        user = user_of(body)
        decoded = installation_of(body, action, respond)
        if decoded is None:
            return
        installation_id, version = decoded
        step = (
            ctx.operations.confirm_removal
            if action["action_id"] == ActionId.CONFIRM_REMOVAL
            else ctx.operations.cancel_removal
        )
        applied, reply = step(installation_id=installation_id, version=version, actor=user)
        done(body, respond, applied, reply)

    def page_button(
        body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
    ) -> None:
        user = user_of(body)
        try:
            ref = decode_page(action.get("value"))
        except ValueError:
            tell(ctx, body, respond, views.help_message())
            return
        page = ctx.commands.page(ref.command, ref.arg, user, after=ref.after, before=ref.before)
        tell(ctx, body, respond, page, replace=True)

    def disable_all(
        body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
    ) -> None:
        try:
            site_id = decode_site(action.get("value"))
        except ValueError:
            tell(ctx, body, respond, views.help_message())
            return
        site = ctx.operations.site(site_id)
        if site is None:
            tell(ctx, body, respond, views.not_found("site", site_id))
            return
        enabled = ctx.operations.enabled_at(site.id)
        ask = _ask(body, kind="disable_all", site_id=site.id, enabled=enabled)
        open_modal(ctx, client, body, respond, views.disable_all_modal(site, ask))

    def retry_upstream(
        body: Interaction, action: ButtonAction, respond: Respond, client: WebClient
    ) -> None:
        value = str(action.get("value") or "")
        if not value.isdigit() or not ctx.operations.retry_upstream(outbox_id=int(value)):
            tell(
                ctx,
                body,
                respond,
                views.help_message("That decision is not waiting for a retry."),
            )

    app.action(_INSTALLATION)(acked(installation_button))
    app.action(_REMOVAL)(acked(removal_button))
    app.action(_PAGING)(acked(page_button))
    app.action(ActionId.DISABLE_ALL.value)(acked(disable_all))
    app.action(ActionId.RETRY_UPSTREAM.value)(acked(retry_upstream))
