"""Slack saying the bot's token is gone (`tokens_revoked`, `app_uninstalled`): deliveries
pause at once, before a refused call would have said so, and every item is kept."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import App


def register(app: App, on_revoked: Callable[[str], None]) -> None:
    @app.event("tokens_revoked")
    def tokens_revoked() -> None:
        on_revoked("tokens_revoked")

    @app.event("app_uninstalled")
    def app_uninstalled() -> None:
        on_revoked("app_uninstalled")
