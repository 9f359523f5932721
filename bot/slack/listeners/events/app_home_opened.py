"""The App Home tab: published afresh each time someone opens it."""

from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext

from bot.slack.listeners.errors import after_ack
from bot.slack.services import services_of


def app_home_opened(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    """Publish the Home tab for whoever opened it."""
    # The Messages tab opens this event too; only the Home tab has something to show.
    if event.get("tab", "home") == "home":
        ctx = services_of(context)
        user = str(event.get("user") or "")
        after_ack(ctx, body, None, lambda: ctx.home.publish(user))
