"""Events API listeners: the Home tab opened, the bot's token revoked."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners.events.app_home_opened import app_home_opened
from bot.slack.listeners.events.token_revoked import app_uninstalled, tokens_revoked


def register(app: App) -> None:
    """Wire each event type to its listener."""
    app.event("app_home_opened")(app_home_opened)
    app.event("tokens_revoked")(tokens_revoked)
    app.event("app_uninstalled")(app_uninstalled)
