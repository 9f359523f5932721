"""The parts of Slack's request payloads the listeners read, as Bolt hands them over.

Slack sends more fields than these, and may leave any of them out, hence total=False:
read with `.get()`. https://api.slack.com/reference/interaction-payloads/block-actions
and https://api.slack.com/interactivity/slash-commands#app_command_handling.
"""

from __future__ import annotations

from typing import TypedDict


class User(TypedDict, total=False):
    id: str
    username: str
    team_id: str


class Container(TypedDict, total=False):
    type: str  # "message" for a button in a message
    message_ts: str
    channel_id: str
    is_ephemeral: bool


class Action(TypedDict, total=False):
    """One clicked element of a block_actions payload (a button here)."""

    type: str
    action_id: str
    block_id: str
    value: str
    action_ts: str


class BlockActions(TypedDict, total=False):
    """The body of a block_actions request (a button was clicked)."""

    type: str  # "block_actions"
    user: User
    container: Container
    response_url: str
    actions: list[Action]


class SlashCommand(TypedDict, total=False):
    """The body of a slash command request, `/simsid <text>`."""

    command: str
    text: str
    user_id: str
    channel_id: str
    team_id: str
    response_url: str
    trigger_id: str
