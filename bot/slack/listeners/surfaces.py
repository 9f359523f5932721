"""Who acts (the one id a request's action is recorded as), where a click came from (a
channel message, a private listing, the Home tab), and how to tell its author there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_bolt import Respond

from bot.slack.services import Services
from bot.slack.views import Message
from store.lifecycle import is_person


class NoActingUser(ValueError):
    """A request reached a listener without a user the admin check could have passed."""


def is_command(body: Mapping[str, Any]) -> bool:
    """A slash command's form (an interaction payload, which has a `type`, never is)."""
    return "type" not in body and bool(body.get("command"))


def acting_user(body: Mapping[str, Any]) -> str | None:
    """The Slack user a request acts as: a command's `user_id`, an interaction's `user.id`
    (never a second field beside it); None unless it has a Slack user id's shape, so a
    request can never act as SIMS ID or the bot itself (store.lifecycle.RESERVED_ACTORS).

    The admin check authorizes exactly this id, and listeners record exactly this id.
    """
    if is_command(body):
        user: object = body.get("user_id")
    else:
        person = body.get("user")
        user = person.get("id") if isinstance(person, Mapping) else None
    return user if isinstance(user, str) and is_person(user) else None


def user_of(body: Mapping[str, Any]) -> str:
    """acting_user of a request the admin check let through (listeners act as it)."""
    user = acting_user(body)
    if user is None:  # the admin check refuses these: reaching here is a bug, not a person
        raise NoActingUser("no Slack user id to act as")
    return user


def from_ephemeral(body: Mapping[str, Any]) -> bool:
    return bool((body.get("container") or {}).get("is_ephemeral"))


def from_home(body: Mapping[str, Any]) -> bool:
    return (body.get("view") or {}).get("type") == "home"


def private(respond: Respond, message: Message, *, replace: bool = False) -> None:
    respond(**message.to_dict(), response_type="ephemeral", replace_original=replace)


def tell(
    ctx: Services,
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
