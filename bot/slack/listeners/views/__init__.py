"""Form (view_submission) listeners: the reason modal."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.ids import CallbackId
from bot.slack.listeners.views.reason_submitted import reason_submitted


def register(app: App) -> None:
    """Wire each form's callback_id to its listener."""
    app.view(CallbackId.REASON.value)(reason_submitted)
