"""Slack saying the bot's token is gone (`tokens_revoked`, `app_uninstalled`): deliveries
pause at once, before a refused call would have said so, and every item is kept."""

from __future__ import annotations

from slack_bolt import BoltContext

from bot.slack.services import services_of


def tokens_revoked(context: BoltContext) -> None:
    """The workspace revoked the bot's token."""
    services_of(context).token_revoked("tokens_revoked")


def app_uninstalled(context: BoltContext) -> None:
    """The app was uninstalled from the workspace."""
    services_of(context).token_revoked("app_uninstalled")
