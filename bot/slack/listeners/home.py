"""The App Home tab: published afresh each time someone opens it."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.slack.context import BotContext
from bot.slack.listeners.errors import after_ack


def register(app: App, ctx: BotContext) -> None:
    @app.event("app_home_opened")
    def opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        # The Messages tab opens this event too; only the Home tab has something to show.
        if event.get("tab", "home") == "home":
            user = str(event.get("user") or "")
            after_ack(ctx, body, None, lambda: ctx.home.publish(user))
