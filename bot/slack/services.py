"""What listeners need (`Services`), built once per app by create_app and handed to each
listener in Bolt's `context` (`services_of`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import BoltContext, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from bot.slack.admins import Access, Admins
from bot.slack.commands import Commands
from bot.slack.home_tab import HomeTab
from bot.slack.operations import Operations

# Slack allows 3 seconds for an acknowledgement; 2 leave room for the way there and back.
ANSWER_DEADLINE = 2.0


class Answering:
    """Counts answers still being worked on after Slack was acked, so a process that is
    stopping can let them finish: once the main thread ends, no new work may start."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._count = 0

    def begin(self) -> None:
        """An answer continues after the ack; `end` when it has been given."""
        with self._cond:
            self._count += 1

    def end(self) -> None:
        with self._cond:
            self._count -= 1
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        """Block until no answer is being worked on; False if `timeout` passes first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._count == 0, timeout)


@dataclass
class Services:
    """The bot's parts a listener may use; `services_of(context)` in a listener."""

    admins: Admins
    access: Access
    commands: Commands
    operations: Operations
    home: HomeTab
    # Runs command work so an answer that takes too long can be acked first.
    executor: ThreadPoolExecutor
    # Runs what a listener does after its ack: Bolt answers Slack only once a listener
    # returns (process_before_response), so slow work must not stay on its thread.
    after_ack: ThreadPoolExecutor
    # Seconds to wait for an answer before acking "working on it" (listeners/deadline.py).
    answer_deadline: float = ANSWER_DEADLINE
    # Lets the error handler tell a verified request (whose response_url it may use).
    signing_secret: str | None = None
    # SIMSID_REMOVE_APPROVALS: with 2, Remove asks for a second admin's confirmation.
    remove_approvals: int = 1
    answering: Answering = field(default_factory=Answering)
    # Claims a Slack event id: True for the first try of it to arrive (listeners/retries.py).
    claim_event: Callable[[str], bool] = lambda event_id: True
    # Slack said the bot's token is gone (tokens_revoked, app_uninstalled): pause deliveries.
    token_revoked: Callable[[str], None] = lambda why: None

    def later(self, work: Callable[[], object], failed: Callable[[Exception], None]) -> None:
        """Run `work` once Slack has its ack; `failed` answers what it raises (raised on
        another thread, it would never reach Bolt's error handler)."""
        self.answering.begin()

        def run() -> None:
            try:
                work()
            except Exception as exc:
                failed(exc)
            finally:
                self.answering.end()

        self.after_ack.submit(run)


# Where `Provide` puts the services in Bolt's context.
KEY = "simsid_services"


def services_of(context: BoltContext | dict[str, Any]) -> Services:
    """The services `Provide` put in a request's context."""
    services = context[KEY]
    assert isinstance(services, Services)
    return services


class Provide(Middleware):
    """Puts the app's services in each request's context, where listeners find them."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        """Add the services, then let the request go on."""
        req.context[KEY] = self._services
        return next()
