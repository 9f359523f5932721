"""What listeners need, built once per app by create_app."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bot.slack.admins import Admins
from bot.slack.home import HomeTab
from bot.slack.operations import Operations
from bot.slack.slash import Commands


@dataclass
class BotContext:
    admins: Admins
    commands: Commands
    operations: Operations
    home: HomeTab
    # Runs command work so an answer that takes too long can be acked first.
    executor: ThreadPoolExecutor
    # Seconds to wait for an answer before acking "working on it" (Slack allows 3).
    answer_deadline: float = 2.0
    # Lets the error handler tell a verified request (whose response_url it may use).
    signing_secret: str | None = None
    # SIMSID_REMOVE_APPROVALS: with 2, Remove asks for a second admin's confirmation.
    remove_approvals: int = 1
