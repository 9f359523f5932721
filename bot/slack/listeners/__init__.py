"""Thin Slack handlers: ack, parse, call one domain function, render with a view.

Laid out as Bolt apps lay them out: one package per kind of request (commands, actions,
views, events), one module-level listener per module, each package wiring its own in
`register(app)`. Listeners find the bot's services in Bolt's `context` (services.Provide).
The admin check (access.py) runs before any of them and the one error handler
(errors.py) answers whatever they raise, so none of them catches errors itself.
"""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners import actions, commands, events, views
from bot.slack.listeners.access import AdminCheck
from bot.slack.listeners.errors import ErrorHandler
from bot.slack.listeners.retries import OnceEach
from bot.slack.services import Provide, Services


def register(app: App, services: Services) -> None:
    """Register the middleware, the error handler and every listener on a fresh app."""
    app.use(Provide(services))
    app.use(OnceEach(services.claim_event))
    app.use(AdminCheck(app, services))
    app.error(ErrorHandler(services.signing_secret, home=services.home.publish).handle)
    commands.register(app)
    actions.register(app)
    views.register(app)
    events.register(app)
