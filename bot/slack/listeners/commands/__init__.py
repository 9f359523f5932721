"""Slash command listeners: `/simsid`."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners.commands.simsid import simsid_command


def register(app: App) -> None:
    """Wire each command to its listener."""
    app.command("/simsid")(simsid_command)
