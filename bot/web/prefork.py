"""`serve`: gunicorn's arbiter forks `--workers` processes, each with an app of its own.

The master imports the bot's modules, binds the port and watches its workers. Every
worker builds its app after the fork (a database engine, delivery loop and Slack client
shared across a fork would share sockets and locks), serves HTTP on gthread's thread
pool and delivers: each outbox item is claimed in the database by one process, so any
number may deliver. The scheduler (digest, reminders) and a Socket Mode connection run
in one worker, the "primary", which the master names before forking it: whenever no
living worker holds the role, the next one forked takes it, so a primary that dies is
replaced by its successor. The digest and reminders are claimed once per period in the
database as well, so a second scheduler somewhere else (the Procfile's `worker`) changes
nothing.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from wsgiref.types import WSGIApplication

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger

from bot.config import Settings
from bot.logging_setup import prepare

if TYPE_CHECKING:  # imported in the worker, after the fork
    from bot.app import BotApp
    from bot.background.scheduler import Scheduler

log = logging.getLogger(__name__)

# Seconds a stopping worker gives its in-flight requests (gunicorn's graceful_timeout).
SHUTDOWN_GRACE_SECONDS = 10
# HTTP threads per worker: a listener waiting on Slack or a database lock holds one.
HTTP_THREADS = 8
# What stops a worker: SIGTERM gracefully, SIGINT and SIGQUIT at once.
_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})


def default_workers(settings: Settings) -> int:
    """WEB_CONCURRENCY when set, else one worker per CPU core."""
    return settings.web_concurrency or os.cpu_count() or 1


def server_config(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """gunicorn's settings for `serve` (the benchmark's baseline app uses them too)."""
    return {
        "bind": [f"{host}:{port}"],
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "graceful_timeout": SHUTDOWN_GRACE_SECONDS,
        "timeout": 60,
        "keepalive": 5,
        # One server per port, run by the platform: no shared control socket file.
        "control_socket_disable": True,
        "proc_name": "simsid-bot",
    }


@dataclass(frozen=True)
class ServeOptions:
    """What `serve` was asked for."""

    host: str
    port: int
    workers: int
    scheduler: bool = True
    socket_mode: bool = False
    threads: int = HTTP_THREADS
    # A second port answering /metrics only (--metrics-port).
    metrics_port: int | None = None


class SocketMode(Protocol):
    """What a worker needs of Bolt's SocketModeHandler (whose methods have no type hints)."""

    def connect(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class _WorkerParts:
    bot: BotApp
    scheduler: Scheduler | None = None
    socket_mode: SocketMode | None = None


class _Arbiter(Arbiter):
    """gunicorn's arbiter, saying what it does on SIGTERM in the bot's words, and taking
    SIGINT (Ctrl-C) as gracefully as SIGTERM, as `serve` always has."""

    def handle_term(self) -> None:
        log.info("received SIGTERM: finishing in-flight requests")
        super().handle_term()

    def handle_int(self) -> None:
        log.info("received SIGINT: finishing in-flight requests")
        raise StopIteration

    def spawn_worker(self) -> int:
        # From the fork until the worker installs its own handlers, a stop signal would
        # run the master's handler copied into the child, which queues it where no one
        # reads it: the worker then boots and serves until SIGKILLed. Blocked, it waits
        # for the worker's handlers (BotServer.load unblocks). The master unblocks at
        # once; a signal sent to it meanwhile is delivered then.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid: int = super().spawn_worker()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return pid

    def reload(self) -> None:
        # SIGHUP forks the new workers while the old ones still run: unmarked, none of the
        # new ones would be named primary and the scheduler would stop with the old one.
        # The old one may overlap the new one briefly: job claims keep each run to one
        # per period.
        for worker in self.WORKERS.values():
            worker.simsid_primary = False
        super().reload()


class _JsonLogs(Logger):
    """gunicorn's own lines (worker boots, timeouts) as JSON too, under LOG_FORMAT=json."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in [*self.error_log.handlers, *self.access_log.handlers]:
            prepare(handler, "json")


class BotServer(BaseApplication):
    """gunicorn, configured in code rather than from its command line or a config file."""

    def __init__(self, settings: Settings, options: ServeOptions) -> None:
        self.settings = settings
        self.options = options
        self._parts: _WorkerParts | None = None
        self._worker: Any = None
        super().__init__()

    # -- gunicorn's BaseApplication ---------------------------------------------

    def load_config(self) -> None:
        opts = self.options
        config = server_config(opts.host, opts.port, opts.workers, opts.threads)
        if opts.metrics_port is not None:
            config["bind"].append(f"{opts.host}:{opts.metrics_port}")
        config.update(
            loglevel=self.settings.log_level.lower(),
            pre_fork=self._pre_fork,
            post_fork=self._post_fork,
            worker_exit=self._worker_exit,
            child_exit=self._child_exit,
            when_ready=self._when_ready,
        )
        if self.settings.log_format == "json":
            config["logger_class"] = _JsonLogs
        for key, value in config.items():
            self.cfg.set(key, value)

    def load(self) -> WSGIApplication:
        """The WSGI app of this worker, built in the worker once its signal handlers are
        its own (a SIGTERM while it builds then stops it rather than being lost)."""
        assert self._worker is not None, "load() runs in a worker, after post_fork"
        # The worker's handlers are in (init_process installs them before it loads): a
        # stop signal held since the fork is delivered now, and clears `alive`.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        self._parts = self._worker.simsid_parts = _build(self.settings, self.options, self._worker)
        return self._parts.bot.wsgi

    def run(self) -> None:
        try:
            _Arbiter(self).run()
        except RuntimeError as exc:  # gunicorn's word for "cannot bind", for one
            print(f"simsid-bot: {exc}", file=sys.stderr)
            sys.exit(1)

    # -- hooks --------------------------------------------------------------------

    def _when_ready(self, arbiter: Arbiter) -> None:
        host, port = arbiter.LISTENERS[0].sock.getsockname()[:2]
        print(f"simsid-bot listening on http://{host}:{port}", flush=True)

    def _pre_fork(self, arbiter: Arbiter, worker: Any) -> None:
        # In the master: name this worker primary unless a living one already is.
        living = arbiter.WORKERS.values()
        worker.simsid_primary = not any(getattr(w, "simsid_primary", False) for w in living)

    def _post_fork(self, arbiter: Arbiter, worker: Any) -> None:
        # Nothing slow here: until init_process installs the worker's own signal
        # handlers, a SIGTERM from the master would land in the master's copied handler.
        self._worker = worker

    def _child_exit(self, arbiter: Arbiter, worker: Any) -> None:
        # In the master, for any worker that ended: its live gauges stop counting.
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

    def _worker_exit(self, arbiter: Arbiter, worker: Any) -> None:
        # Also called in the master for a worker that vanished: it has no parts there.
        parts: _WorkerParts | None = getattr(worker, "simsid_parts", None)
        if parts is None or worker.pid != os.getpid():
            return
        log.info("worker %s shutting down", worker.pid)
        # Answers acked as "working on it" need threads no one may start once this
        # process begins to exit: let them finish first.
        if not parts.bot.answering.wait(SHUTDOWN_GRACE_SECONDS):
            log.warning("stopped with answers still being worked on")
        if parts.socket_mode is not None:
            parts.socket_mode.close()
        if parts.scheduler is not None:
            parts.scheduler.shutdown()
        parts.bot.delivery.stop()
        parts.bot.db.dispose()
        log.info("stopped")


def _build(settings: Settings, options: ServeOptions, worker: Any) -> _WorkerParts:
    """A worker's app, delivery loop, and (in the primary) scheduler and Socket Mode."""
    from bot.app import create_app
    from store.db import Database

    # The master checked the database and configured the vault before forking. A worker
    # must boot without the database: gunicorn halts the whole server when a worker
    # fails to boot, and one is forked whenever another dies, outage or not.
    bot = create_app(
        settings,
        db=Database(settings.database_url),
        workers=options.workers,
        metrics_port=options.metrics_port,
    )
    parts = _WorkerParts(bot)
    bot.delivery.start()
    # Told to stop while building (the worker's own SIGTERM handler cleared `alive`):
    # starting the scheduler only to shut it down at once trips APScheduler up.
    if worker.simsid_primary and worker.alive:
        if options.scheduler:
            from bot.background.scheduler import Scheduler

            parts.scheduler = Scheduler.for_app(bot)
            parts.scheduler.start()
            log.info("worker %s runs the scheduler", os.getpid())
        if options.socket_mode:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            assert settings.slack_app_token is not None
            token = settings.slack_app_token.get_secret_value()
            socket_mode: SocketMode = SocketModeHandler(bot.bolt, token)
            socket_mode.connect()
            parts.socket_mode = socket_mode
    # Everything built so far (modules, the app, SQLAlchemy's metadata) lives as long as
    # the worker: out of the collector's sight, a full collection no longer walks it.
    gc.freeze()
    return parts


def serve(settings: Settings, options: ServeOptions) -> int:
    """Run until SIGTERM or SIGINT, then let in-flight requests finish; 0 when all did."""
    # Before prometheus_client is imported: it picks its multiprocess mode on import.
    cleanup = prepare_metrics_dir()
    # The bot's modules (code, not instances: no engine, socket or thread) are imported
    # here, before the fork, so the workers share those pages instead of each importing
    # its own copy (idle memory of a 2-worker serve: 160 MB -> 116 MB). Frozen, the
    # collector in a worker never writes to them, which would copy them after all.
    import bot.app  # noqa: F401

    gc.freeze()
    try:
        BotServer(settings, options).run()
    finally:
        cleanup()
    return 0


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir() -> Callable[[], None]:
    """Make PROMETHEUS_MULTIPROC_DIR ready before the workers fork, so that a scrape sums
    them all: the operator's, emptied of an earlier run's files (they would add up with
    this run's), or else a fresh temporary one. Returns what to call at exit."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return lambda: None
    made = tempfile.mkdtemp(prefix="simsid-metrics-")
    os.environ[MULTIPROC_ENV] = made
    master = os.getpid()

    def cleanup() -> None:
        # A worker leaves through the same frames (gunicorn's sys.exit after the fork).
        if os.getpid() == master:
            shutil.rmtree(made, ignore_errors=True)

    return cleanup
