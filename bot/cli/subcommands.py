"""What each `simsid-bot` command does, once its settings are checked."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from bot.cli.terminal import safe
from bot.config import CHANNEL_ID, Settings
from bot.runtime import StartupError, open_database, unknown_revision, unreachable
from store import applications, migrate, queries, vault
from store.db import Database
from store.keyring_check import rotate_all
from store.lifecycle import Lifecycle
from store.models import OutboxKind

if TYPE_CHECKING:  # imported by the commands that build the app, when they run
    from wsgiref.types import StartResponse, WSGIEnvironment

    from bot.app import BotApp
    from bot.metrics import Endpoint


def keys_generate() -> int:
    print(vault.generate_key())
    return 0


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    db = open_database(settings)
    with db.session() as session:
        count = rotate_all(session)
    print(f"re-encrypted {count} secrets under the first key; older keys can now be dropped")
    return 0


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings.database_url)
    try:
        migrate.upgrade(db)
    except migrate.UnknownRevision as exc:
        raise StartupError(unknown_revision(exc)) from None
    except DBAPIError as exc:
        raise unreachable(exc) from None
    print("database is up to date")
    return 0


def cmd_apps(settings: Settings, args: argparse.Namespace) -> int:
    channel = args.channel if args.apps_command in ("add", "edit") else None
    if channel is not None and not CHANNEL_ID.fullmatch(channel):
        raise StartupError("--channel: must be a channel id such as C0123456789")
    db = open_database(settings)
    if args.apps_command == "add":
        with db.session() as session:
            app, created = applications.register(
                session,
                app_id=args.app_id,
                name=args.name,
                channel=args.channel,
                bypass_auth=args.bypass_auth,
                sims_primary=args.sims_primary,
            )
            if args.approvers is not None:
                applications.set_approvers(session, app.id, args.approvers)
        print(
            f"{'registered' if created else 'updated'} {safe(app.name)} "
            f"({safe(app.id)}, slug {safe(app.slug)})"
        )
        return 0
    if args.apps_command == "edit":
        return _apps_edit(db, args)
    with db.read() as session:
        apps = queries.list_applications(session)
        approvers = applications.approvers(session)
    if not apps:
        print("no applications registered yet")
    for app in apps:
        flags = [
            f
            for f, on in (("bypass-auth", app.bypass_auth), ("sims-primary", app.sims_primary))
            if on
        ]
        print(
            f"{safe(app.id)}\t{safe(app.name)}\tslug={safe(app.slug)}"
            f"\tchannel={safe(app.channel or '(default)')}"
            + (f"\t{','.join(flags)}" if flags else "")
            + (f"\tapprovers={','.join(approvers[app.id])}" if app.id in approvers else "")
        )
    return 0


def _apps_edit(db: Database, args: argparse.Namespace) -> int:
    """`apps edit APP`: its channel and approvers; what is not given stays as it is."""
    with db.session() as session:
        matches = queries.match_apps(session, args.app, exact_only=True)
        if len(matches) != 1:
            what = "no application" if not matches else f"{len(matches)} applications"
            raise StartupError(f"APP: {what} with the id, slug or name {safe(args.app)}")
        app = matches[0]
        if args.channel is not None:
            applications.register(session, app_id=app.id, name=app.name, channel=args.channel)
        if args.approvers is not None:
            applications.set_approvers(session, app.id, args.approvers)
        approvers = applications.approvers_of(session, app.id)
    channel = args.channel or app.channel or "(default)"
    print(
        f"updated {safe(app.name)} ({safe(app.id)}): channel={safe(channel)}, "
        f"approvers={','.join(approvers) or '(the admins only)'}"
    )
    return 0


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.cli.importer import check_utf8, ingest_file

    if not args.file.is_file():
        what = "is not a file" if args.file.exists() else "does not exist"
        raise StartupError(f"FILE: {args.file} {what}")
    try:
        check_utf8(args.file)
    except UnicodeDecodeError as exc:
        raise StartupError(f"FILE: not UTF-8 text (byte {exc.start}); nothing imported") from None
    db = open_database(settings)
    lifecycle = Lifecycle(
        upstream=bool(settings.simsid_upstream_url) and args.notify,
        default_channel=settings.simsid_default_channel,
    )
    report = ingest_file(db, lifecycle, args.file, notify=args.notify, progress=sys.stderr)
    for number, problem in report.rejected[:100]:
        print(f"line {number}: {safe(problem)}", file=sys.stderr)
    if len(report.rejected) > 100:
        print(f"... and {len(report.rejected) - 100} more rejected lines", file=sys.stderr)
    print(f"imported {args.file}: {report.summary()}")
    if args.notify:
        print("install messages will be posted by the running bot (serve or worker)")
    return 1 if report.rejected and not (report.new or report.duplicate or report.stale) else 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from bot.web.prefork import ServeOptions, default_workers, serve

    # Checked here, once, so that a bad key or an old schema stops start-up with its
    # message and exit 2 before any worker is forked; each worker opens its own engine.
    open_database(settings).dispose()
    options = ServeOptions(
        host="0.0.0.0",  # noqa: S104  (a service behind a platform's router)
        port=settings.port if args.port is None else args.port,
        workers=args.workers or default_workers(settings),
        scheduler=not args.no_scheduler,
        socket_mode=args.socket_mode,
        metrics_port=args.metrics_port,
    )
    return serve(settings, options)


def _nothing() -> None:
    pass


def _serve_metrics(endpoint: Endpoint, port: int) -> Callable[[], None]:
    """`/metrics` alone on `port` of every interface, in a thread; returns what stops it."""
    from bot.web.server import serve_in_thread

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        return endpoint.answer(environ, start_response) or []

    served = serve_in_thread(app, host="0.0.0.0", port=port, name="metrics")  # noqa: S104
    return served.close


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.background.scheduler import Scheduler
    from bot.web.server import run_worker

    bot = create_app(settings)
    stop_metrics: Callable[[], None] = _nothing
    if args.metrics_port is not None:
        from bot import metrics

        token = settings.simsid_metrics_token
        endpoint = metrics.Endpoint(
            metrics.DatabaseCollector(bot.db),
            token=token.get_secret_value() if token else None,
            alone=True,
        )
        stop_metrics = _serve_metrics(endpoint, args.metrics_port)
    try:
        run_worker(bot, scheduler=Scheduler.for_app(bot))
    finally:
        stop_metrics()
    return 0


def cmd_digest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.background.delivery import worker_id
    from bot.background.scheduler import post_digest

    bot = create_app(settings)
    assert settings.simsid_default_channel is not None
    result = post_digest(
        bot.db,
        channel=settings.simsid_default_channel,
        cron=settings.simsid_digest_cron,
        tz=settings.tz,
        now=bot.lifecycle.clock(),
        by=worker_id(),
        force=args.force,
        grace=None,  # "now" means now, not only near the scheduled time
    )
    bot.delivery.drain()
    # The channel takes a post a second: behind an install message, the digest's turn
    # comes after drain() has returned. Wait for it rather than say "posted" too soon.
    deadline = time.monotonic() + DIGEST_WAIT_SECONDS
    while result == "posted" and _digest_waiting(bot) and time.monotonic() < deadline:
        time.sleep(0.2)
        bot.delivery.drain()
    if result == "posted" and _digest_waiting(bot):
        print("digest: queued; Slack has not taken it yet, the running bot will post it")
        return 0
    print(f"digest: {result}")
    return 0


DIGEST_WAIT_SECONDS = 30


def _digest_waiting(bot: BotApp) -> bool:
    with bot.db.read() as session:
        return queries.oldest_undelivered(session, OutboxKind.DIGEST) is not None


def cmd_outbox(settings: Settings, args: argparse.Namespace) -> int:
    from bot.cli.outbox import show_outbox

    db = open_database(settings)
    return show_outbox(db, retry=args.retry)


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    from bot.cli.doctor import run_doctor

    return run_doctor(settings, as_json=args.json)
