"""Buttons: installation actions, paging, "disable all" and retrying an upstream decision."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.slack import views
from bot.slack.context import BotContext
from bot.slack.ids import (
    INSTALLATION_ACTIONS,
    ActionId,
    decode_installation,
    decode_page,
    decode_site,
)
from bot.slack.listeners.errors import reply_for
from bot.slack.views import Message

log = logging.getLogger(__name__)

_INSTALLATION = re.compile("^(" + "|".join(re.escape(a) for a in INSTALLATION_ACTIONS) + ")$")
_PAGING = re.compile(
    "^(" + re.escape(ActionId.PAGE) + "|" + re.escape(ActionId.PAGE_PREVIOUS) + ")$"
)


def _private(respond: Respond, message: Message, *, replace: bool = False) -> None:
    respond(**message.to_dict(), response_type="ephemeral", replace_original=replace)


def _user(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")


def _from_ephemeral(body: dict[str, Any]) -> bool:
    return bool((body.get("container") or {}).get("is_ephemeral"))


def register(app: App, ctx: BotContext) -> None:
    def guarded(ack: Ack, body: dict[str, Any], respond: Respond, work: Any) -> None:
        ack()
        user = _user(body)
        try:
            if not ctx.admins.is_admin(user):
                log.info("refused button from non-admin %s", user)
                _private(respond, views.not_allowed())
                return
            work(user)
        except Exception as exc:  # the one handler decides what to say
            _private(respond, reply_for(exc))

    @app.action(_INSTALLATION)
    def installation_button(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        def work(user: str) -> None:
            try:
                installation_id, version = decode_installation(action.get("value"))
            except ValueError:
                _private(respond, views.help_message("That button is not one of mine."))
                return
            applied, reply = ctx.operations.act(
                installation_id=installation_id,
                version=version,
                action=INSTALLATION_ACTIONS[ActionId(action["action_id"])],
                actor=user,
            )
            # The channel message updates itself; say something only when it did not
            # happen, or when the click came from a private listing.
            if not applied or _from_ephemeral(body):
                _private(respond, reply)

        guarded(ack, body, respond, work)

    @app.action(_PAGING)
    def page_button(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        def work(user: str) -> None:
            try:
                command, arg, offset = decode_page(action.get("value"))
            except ValueError:
                _private(respond, views.help_message())
                return
            _private(respond, ctx.commands.page(command, arg, offset, user), replace=True)

        guarded(ack, body, respond, work)

    @app.action(ActionId.DISABLE_ALL.value)
    def disable_all(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        def work(user: str) -> None:
            try:
                site_id = decode_site(action.get("value"))
            except ValueError:
                _private(respond, views.help_message())
                return
            _private(respond, ctx.operations.disable_all(site_id=site_id, actor=user))

        guarded(ack, body, respond, work)

    @app.action(ActionId.RETRY_UPSTREAM.value)
    def retry_upstream(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        def work(user: str) -> None:
            value = str(action.get("value") or "")
            if not value.isdigit() or not ctx.operations.retry_upstream(outbox_id=int(value)):
                _private(respond, views.help_message("That decision is not waiting for a retry."))

        guarded(ack, body, respond, work)
