"""`simsid-bot sandbox`: the whole bot on this machine, with a Slack look-alike in a browser.

Everything real runs: the bot's HTTP app on its own loopback port, its delivery loop
and scheduler, its database. Only Slack is stood in for, by FakeSlack, and SIMS ID by
the page's install form; both reach the bot through its real, signed endpoints.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import FrameType

from bot.app import BotApp, create_app
from bot.background.scheduler import Scheduler
from bot.runtime import StartupError
from bot.sandbox.api import SandboxApi
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.relay import Relay
from bot.sandbox.timeline import Timeline
from bot.sandbox.web import SandboxServer
from bot.sandbox.workspace import (
    CHANNEL_NAMES,
    Secrets,
    key_path,
    load_or_create_key,
    register_examples,
    sandbox_settings,
)
from bot.web.server import Served, serve_in_thread

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # the sandbox has no authentication: never listen beyond this machine
START_TIMEOUT_SECONDS = 10.0


class Sandbox:
    """The running pieces, started in order and stopped in reverse."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.fake: FakeSlack | None = None
        self.bot: BotApp | None = None
        self.scheduler: Scheduler | None = None
        self.timeline: Timeline | None = None
        self.web: SandboxServer | None = None
        self._served: Served | None = None
        self._delivering = False

    def start(self, port: int) -> str:
        """Start everything; returns the page's URL."""
        key = load_or_create_key(self.db_path)
        shared = Secrets.generate()
        self.fake = FakeSlack(token=shared.bot_token).start()
        for channel, name in CHANNEL_NAMES.items():  # as conversations.info (doctor) names them
            self.fake.set_channel(channel, name=name)
        settings = sandbox_settings(
            api_url=self.fake.api_url, db_path=self.db_path, key=key, shared=shared
        )
        self.bot = create_app(settings)
        register_examples(self.bot.db)
        bot_url = self._serve_bot(self.bot)
        self.bot.delivery.start()
        self._delivering = True
        # Maintenance windows are checked every 5 s, so one a minute long ends on time.
        self.scheduler = Scheduler.for_app(self.bot, windows_every=timedelta(seconds=5)).start()
        self.timeline = Timeline(self.fake)
        self.timeline.start()
        relay = Relay(
            bot_url, signing_secret=shared.signing_secret, webhook_secret=shared.webhook_secret
        )
        self.timeline.trigger_owner = relay.trigger_user
        api = SandboxApi(self.timeline, relay, self.bot.db)
        try:
            self.web = SandboxServer((HOST, port), api)
        except OSError as exc:
            raise StartupError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from None
        self.web.start()
        return f"http://{HOST}:{self.web.port}/"

    def _serve_bot(self, bot: BotApp) -> str:
        try:
            self._served = serve_in_thread(
                bot.wsgi, host=HOST, name="sandbox-bot-http", start_timeout=START_TIMEOUT_SECONDS
            )
        except RuntimeError as exc:
            raise StartupError(f"the bot's {exc}") from None
        return self._served.url

    def stop(self) -> None:
        """Stop whatever was started; safe after a failed start."""
        if self.web is not None:
            self.web.shutdown()
            self.web.server_close()
        if self.timeline is not None:
            self.timeline.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if self._served is not None:
            self._served.close(START_TIMEOUT_SECONDS)
        if self.bot is not None:
            if self._delivering:
                self.bot.delivery.stop()
            self.bot.db.dispose()
        if self.fake is not None:
            self.fake.stop()


def _on_signals(stop: threading.Event) -> Callable[[], None]:
    """Make SIGINT and SIGTERM set `stop`; returns what puts the old handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # only the main thread may handle signals (tests call from others)

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping the sandbox", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


def run_sandbox(
    port: int = 8080,
    db_path: Path = Path("sandbox.db"),
    *,
    stop: threading.Event | None = None,
) -> int:
    """Run the sandbox until Ctrl-C, SIGTERM or `stop`; 0 on a clean stop, 2 if it cannot start."""
    stop = stop or threading.Event()
    # The sandbox's reminder job runs every minute or so; its INFO lines would bury the URL.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    restore = _on_signals(stop)
    sandbox = Sandbox(db_path)
    try:
        try:
            url = sandbox.start(port)
        except StartupError as exc:
            hint = ""
            if "SIMSID_ENCRYPTION_KEYS" in str(exc):
                hint = f" (is {key_path(db_path)} the key this database was made with?)"
            print(f"simsid-bot sandbox: {exc}{hint}", file=sys.stderr)
            return 2
        except OSError as exc:  # the key file or the database file cannot be used
            print(f"simsid-bot sandbox: {exc}", file=sys.stderr)
            return 2
        print(f"Sandbox running: open {url}", flush=True)
        # A timed wait, so the main thread returns to the interpreter to run signal handlers.
        while not stop.wait(0.5):
            pass
        return 0
    finally:
        try:
            sandbox.stop()
        finally:
            restore()
