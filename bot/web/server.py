"""In-process HTTP (waitress) for tests and the sandbox, and the `worker` process's loop.

`serve` itself runs on gunicorn's pre-forking server: see bot/web/prefork.py.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any
from wsgiref.types import WSGIApplication

from waitress import create_server, wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.utilities import RequestEntityTooLarge

from bot.app import BotApp
from bot.web.wsgi import MAX_SLACK_BODY_BYTES, body_limit

if TYPE_CHECKING:  # the commands that need it import it, which keeps start-up light
    from bot.background.scheduler import Scheduler

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0
HTTP_THREADS = 16


class Stopper:
    """Turns SIGTERM and SIGINT into a flag the serve loop watches."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: finishing in-flight requests", signal.Signals(signum).name)
        self.event.set()


class _LimitedParser(HTTPRequestParser):
    """Refuses a body announced over its path's limit as soon as the headers are in.

    Waitress reads a whole body (to a temporary file when large) before it calls the
    application, so a limit checked there only stops a huge body after it has arrived.
    """

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        limit = body_limit(self.path)
        if self.content_length > limit:
            self.error = RequestEntityTooLarge(f"body is over {limit} bytes")
            self.completed = True


class _Channel(HTTPChannel):
    parser_class = _LimitedParser


def serve_http(
    wsgi: WSGIApplication,
    *,
    host: str,
    port: int,
    stop: threading.Event,
    on_listening: Callable[[str, int, Callable[[], None]], None] = lambda h, p, w: None,
) -> None:
    """Serve until `stop` is set, then stop accepting and let in-flight requests finish.

    `on_listening` gets the address and a function that wakes the loop, so whoever sets
    `stop` can have it seen at once rather than at the loop's next half-second turn."""
    # Any: waitress has no type hints.
    server: Any = create_server(
        wsgi,
        host=host,
        port=port,
        threads=HTTP_THREADS,
        ident="simsid-bot",
        channel_timeout=30,
        connection_limit=200,
        clear_untrusted_proxy_headers=True,
        # Chunked bodies have no length to check up front: waitress stops them here.
        max_request_body_size=MAX_SLACK_BODY_BYTES + 1,
    )
    server.channel_class = _Channel
    on_listening(server.effective_host, server.effective_port, server.pull_trigger)
    while not stop.is_set():
        wasyncore.loop(timeout=0.5, map=server._map, count=1)
    server.accepting = False
    server.del_channel()  # no new connections from here on
    server.socket.close()
    deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
    while time.monotonic() < deadline and _busy(server):
        wasyncore.loop(timeout=0.1, map=server._map, count=1)
    server.task_dispatcher.shutdown(timeout=1)
    for channel in list(server._map.values()):
        channel.close()


@dataclass
class Served:
    """An HTTP server running in a thread of this process (tests and the sandbox)."""

    url: str
    _stop: threading.Event
    _thread: threading.Thread
    _wake: Callable[[], None]

    def close(self, timeout: float = 15.0) -> None:
        """Stop accepting, let in-flight requests finish, and wait for the thread."""
        self._stop.set()
        self._wake()
        self._thread.join(timeout)


def serve_in_thread(
    wsgi: Callable[..., Any],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str = "bot-http",
    start_timeout: float = 10.0,
) -> Served:
    """`serve_http` in a daemon thread; returns once it listens (port 0: any free one)."""
    stop = threading.Event()
    ready = threading.Event()
    where: dict[str, int] = {}
    wakes: list[Callable[[], None]] = []

    def listening(_host: str, bound: int, wake: Callable[[], None]) -> None:
        where["port"] = bound
        wakes.append(wake)
        ready.set()

    thread = threading.Thread(
        target=serve_http,
        kwargs={"wsgi": wsgi, "host": host, "port": port, "stop": stop, "on_listening": listening},
        name=name,
        daemon=True,
    )
    thread.start()
    if not ready.wait(start_timeout):
        stop.set()
        raise RuntimeError("the HTTP server did not start")
    return Served(f"http://{host}:{where['port']}", stop, thread, wakes[0])


def _busy(server: Any) -> bool:
    dispatcher = server.task_dispatcher
    if dispatcher.queue or dispatcher.active_count:
        return True
    return any(ch.requests or ch.total_outbufs_len for ch in server.active_channels.values())


def run_worker(bot: BotApp, *, scheduler: Scheduler, stopper: Stopper | None = None) -> None:
    """The `worker` process: delivery and the scheduler, no HTTP, until SIGTERM."""
    stopper = stopper or Stopper()
    stopper.install()
    bot.delivery.start()
    scheduler.start()
    try:
        print("simsid-bot worker running", flush=True)
        stopper.event.wait()
    finally:
        log.info("shutting down")
        scheduler.shutdown()
        bot.delivery.stop()
        bot.db.dispose()
        log.info("stopped")
