"""Thin Slack handlers: ack, parse, call one domain function, render with a view.

The admin check (access.py) runs before any of them and the one error handler
(errors.py) answers whatever they raise, so none of them catches errors itself.
"""

from __future__ import annotations

from slack_bolt import App

from bot.slack.context import BotContext
from bot.slack.listeners import access, actions, commands, decisions, errors, home
from bot.slack.listeners.retries import OnceEach


def register(app: App, ctx: BotContext) -> None:
    """Register the middleware, the error handler and every listener on a fresh app."""
    app.use(OnceEach(ctx.claim_event))
    access.register(app, ctx)
    errors.register(app, ctx.signing_secret, home=ctx.home.publish)
    commands.register(app, ctx)
    actions.register(app, ctx)
    decisions.register(app, ctx)
    home.register(app, ctx)
