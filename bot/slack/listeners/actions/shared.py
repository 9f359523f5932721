"""What the button listeners share: the ack-then-work shape, reading a button's value,
opening a form, and answering where the click was."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot.slack import views
from bot.slack.ids import ReasonAsk, decode_installation
from bot.slack.listeners.errors import after_ack
from bot.slack.listeners.surfaces import from_ephemeral, from_home, tell
from bot.slack.payloads import ButtonAction, Interaction
from bot.slack.services import Services, services_of

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a button does once acked: (services, body, action, respond, client).
Work = Callable[[Services, Interaction, ButtonAction, Respond, WebClient], None]
# A button listener as Bolt calls it: (ack, body, action, respond, client, context).
ButtonListener = Callable[[Ack, Interaction, ButtonAction, Respond, WebClient, BoltContext], None]


def acked(work: Work, *, name: str, doc: str) -> ButtonListener:
    """The Bolt listener `name` of a button: ack at once, then do `work` once Slack has the
    ack (errors.after_ack), with the app's services in place of Bolt's context."""

    # Bolt passes a listener the arguments its parameters name, so these names are
    # Bolt's (and the listener gets no __wrapped__, which Bolt would read instead).
    def listener(
        ack: Ack,
        body: Interaction,
        action: ButtonAction,
        respond: Respond,
        client: WebClient,
        context: BoltContext,
    ) -> None:
        ack()
        ctx = services_of(context)
        after_ack(ctx, body, respond, lambda: work(ctx, body, action, respond, client))

    listener.__name__ = listener.__qualname__ = name
    listener.__module__ = work.__module__
    listener.__doc__ = doc
    return listener


def value_of(
    decode: Callable[[Any], T],
    ctx: Services,
    body: Interaction,
    action: ButtonAction,
    respond: Respond,
) -> T | None:
    """The button's value decoded; None, after saying so, when it is not one a button of
    ours carries (tampered, or from an older version of the bot)."""
    try:
        return decode(action.get("value"))
    except ValueError:
        tell(ctx, body, respond, views.help_message("That button is not one of mine."))
        return None


def ask_for(body: Interaction, **fields: Any) -> ReasonAsk:
    """What the modal will do, and where its outcome is told."""
    response_url = body.get("response_url") if from_ephemeral(body) else None
    return ReasonAsk(response_url=response_url, home=from_home(body), **fields)


def open_modal(
    ctx: Services, client: WebClient, body: Interaction, respond: Respond, view: dict[str, Any]
) -> None:
    """views.open with the click's trigger_id (valid for 3 seconds, so straight after ack)."""
    try:
        client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
    except Exception as exc:  # Slack said no (an expired trigger): say so, change nothing
        log.warning("views.open failed: %s", type(exc).__name__)
        tell(ctx, body, respond, views.help_message("Slack would not open the form: try again."))


def done(
    ctx: Services, body: Interaction, respond: Respond, applied: bool, reply: views.Message
) -> None:
    """Tell the outcome of a change where the click was, when the message does not."""
    # The channel message updates itself; say something only when it did not happen,
    # or when the click came from a private listing or the Home tab.
    if from_home(body) or not applied or from_ephemeral(body):
        tell(ctx, body, respond, reply)


def installation_of(
    ctx: Services, body: Interaction, action: ButtonAction, respond: Respond
) -> tuple[int, int] | None:
    """The (installation, version) a button carries; None, after saying so, if tampered."""
    return value_of(decode_installation, ctx, body, action, respond)
