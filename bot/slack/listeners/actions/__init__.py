"""Button listeners: installation actions, removal requests, paging, "disable all" and
retrying an upstream decision, and opening the list modal.

Only admins get here (listeners/access.py), and what goes wrong is answered by the one
error handler (listeners/errors.py): each listener acks at once, then does its one thing
and replies once Slack has the ack (errors.after_ack).
"""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners.actions import (
    decide_list,
    disable_all,
    extend,
    installation,
    paging,
    removal,
)
from bot.slack.listeners.actions import retry_upstream as retry


def register(app: App) -> None:
    """Wire each button's action_id to its listener."""
    app.action(installation.ACTION_IDS)(installation.installation_button)
    app.action(removal.ACTION_IDS)(removal.removal_button)
    app.action(paging.ACTION_IDS)(paging.page_button)
    app.action(disable_all.ACTION_ID)(disable_all.disable_all_button)
    app.action(retry.ACTION_ID)(retry.retry_upstream_button)
    app.action(extend.ACTION_ID)(extend.extend_button)
    app.action(decide_list.ACTION_ID)(decide_list.decide_list_button)
