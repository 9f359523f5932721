"""The parts of Slack's request payloads the listeners read, as Bolt hands them over.

Slack sends more fields than these, and may leave any of them out, hence total=False:
read with `.get()`. https://api.slack.com/reference/interaction-payloads/block-actions,
https://api.slack.com/reference/interaction-payloads/views and
https://api.slack.com/interactivity/slash-commands#app_command_handling.
"""

from __future__ import annotations

from typing import Any, TypedDict


class User(TypedDict, total=False):
    id: str
    username: str
    team_id: str


class Container(TypedDict, total=False):
    type: str  # "message" for a button in a message, "view" for one in a modal or Home
    message_ts: str
    channel_id: str
    is_ephemeral: bool


class SurfaceView(TypedDict, total=False):
    """A modal or the Home tab, as a click or a submission carries it."""

    id: str
    type: str  # "modal" or "home"
    callback_id: str
    private_metadata: str
    # block_id -> action_id -> the input's value: shaped by the view, so left open.
    state: dict[str, Any]


class ButtonAction(TypedDict, total=False):
    """One clicked element of a block_actions payload (a button here)."""

    type: str
    action_id: str
    block_id: str
    value: str
    action_ts: str


class Interaction(TypedDict, total=False):
    """The body of a block_actions (a click) or view_submission (a form sent) request."""

    type: str  # "block_actions" or "view_submission"
    user: User
    container: Container
    view: SurfaceView
    response_url: str
    trigger_id: str
    actions: list[ButtonAction]


class SlashCommand(TypedDict, total=False):
    """The body of a slash command request, `/simsid <text>`."""

    command: str
    text: str
    user_id: str
    channel_id: str
    team_id: str
    response_url: str
    trigger_id: str
