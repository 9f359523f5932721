"""Where a click came from (a channel message, a private listing, the Home tab), and how
to tell its author something there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_bolt import Respond

from bot.slack.context import BotContext
from bot.slack.views import Message


def user_of(body: Mapping[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")


def from_ephemeral(body: Mapping[str, Any]) -> bool:
    return bool((body.get("container") or {}).get("is_ephemeral"))


def from_home(body: Mapping[str, Any]) -> bool:
    return (body.get("view") or {}).get("type") == "home"


def private(respond: Respond, message: Message, *, replace: bool = False) -> None:
    respond(**message.to_dict(), response_type="ephemeral", replace_original=replace)


def tell(
    ctx: BotContext,
    body: Mapping[str, Any],
    respond: Respond,
    message: Message,
    *,
    replace: bool = False,
) -> None:
    """A private answer where the click was: on the Home tab (republished with the answer
    on top, for it has no response_url), else through the click's response_url."""
    if from_home(body):
        ctx.home.publish(user_of(body), notice=message.text)
    else:
        private(respond, message, replace=replace)
