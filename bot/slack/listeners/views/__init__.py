"""Form (view_submission) listeners: the reason modal and the list modal."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.ids import CallbackId
from bot.slack.listeners.views.decide_submitted import list_submitted, preview_confirmed
from bot.slack.listeners.views.reason_submitted import reason_submitted


def register(app: App) -> None:
    """Wire each form's callback_id to its listener."""
    app.view(CallbackId.REASON.value)(reason_submitted)
    app.view(CallbackId.DECIDE_LIST.value)(list_submitted)
    app.view(CallbackId.DECIDE_CONFIRM.value)(preview_confirmed)
