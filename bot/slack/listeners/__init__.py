"""Thin Slack handlers: ack, parse, call one domain function, render with a view."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.context import BotContext
from bot.slack.listeners import actions, commands, decisions, errors, home


def register(app: App, ctx: BotContext) -> None:
    """Register every listener on a freshly built app."""
    errors.register(app, ctx.signing_secret)
    commands.register(app, ctx)
    actions.register(app, ctx)
    decisions.register(app, ctx)
    home.register(app, ctx)
