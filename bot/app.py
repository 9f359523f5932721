"""create_app: a fresh Bolt app, its listeners, the delivery loop and the one HTTP app."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import log_context, metrics
from bot.background.delivery import Delivery
from bot.background.timing import Timings
from bot.config import Settings
from bot.runtime import open_database
from bot.simsid.upstream import UpstreamSender
from bot.simsid.webhook import Webhook
from bot.slack import listeners
from bot.slack.admins import Access, Admins
from bot.slack.client import make_client
from bot.slack.commands import Commands
from bot.slack.home_tab import HomeTab
from bot.slack.listeners.surfaces import acting_user
from bot.slack.operations import Operations
from bot.slack.services import ANSWER_DEADLINE, Answering, Services
from bot.web.wsgi import HttpApp
from store import claims
from store.db import Database
from store.lifecycle import Lifecycle
from store.models import utcnow

log = logging.getLogger(__name__)


@dataclass
class BotApp:
    """Everything one process serves with; `wsgi` is what the HTTP server runs."""

    settings: Settings
    db: Database
    bolt: App
    client: WebClient
    lifecycle: Lifecycle
    delivery: Delivery
    commands: Commands
    operations: Operations
    wsgi: HttpApp
    # Answers still on their way after Slack was acked (see bot/web/server.run).
    answering: Answering
    # What the listeners are given (in Bolt's context, services.Provide).
    services: Services


class _Workspace:
    """Authorizes requests for the one workspace the bot token belongs to.

    The team id is learnt from auth.test once; until Slack answers it, a request with a
    valid signature is trusted (the signing secret is this app's alone).
    """

    def __init__(self, client: WebClient, token: str) -> None:
        self._client = client
        self._token = token
        self._lock = threading.Lock()
        self._team_id: str | None = None
        self._bot_user_id: str | None = None

    def _learn(self) -> None:
        try:
            response = self._client.auth_test()
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("auth.test failed (%s); team id not yet known", type(exc).__name__)
            return
        with self._lock:
            self._team_id = response.get("team_id")
            self._bot_user_id = response.get("user_id")

    def authorize(self, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        if self._team_id is None:
            self._learn()
        if self._team_id is not None and team_id is not None and team_id != self._team_id:
            log.warning("refused a request from another workspace (%s)", team_id)
            return None
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id or self._team_id,
            bot_token=self._token,
            bot_user_id=self._bot_user_id,
        )


def _claim_event(db: Database, event_id: str, clock: Callable[[], datetime]) -> bool:
    """Claim one Slack event id: True for the first try of it (store/claims.py)."""
    with db.session() as session:
        return claims.claim(
            session, f"slack-event:{event_id}", by=f"slack-events:{os.getpid()}", now=clock()
        )


class _WhoAsks(Middleware):
    """Logs each Slack request under the user it acts as; over Socket Mode, which has no
    HTTP edge to name the request, under a new request id. Bolt's own kind of middleware:
    a function's arguments are all built first, which fails on some payloads."""

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        if req.mode == "socket_mode":
            log_context.REQUEST_ID.set(log_context.request_id_from(None))
            log_context.INSTALLATION.set(None)
        log_context.USER.set(acting_user(req.body))
        next()
        return resp


class _ListenerTimer(Middleware):
    """Times each request's listeners by kind, until they ack. Bolt's own kind of
    middleware: a function's arguments are all built first, which fails on some payloads."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        started = time.perf_counter()
        try:
            return next()
        finally:
            seconds = time.perf_counter() - started
            metrics.listener_timed(metrics.listener_kind(req.body), seconds, self.deadline)


def create_app(
    settings: Settings,
    client: WebClient | None = None,
    *,
    db: Database | None = None,
    clock: Callable[[], datetime] = utcnow,
    timings: Timings | None = None,
    answer_deadline: float = ANSWER_DEADLINE,
    workers: int = 1,
    metrics_port: int | None = None,
) -> BotApp:
    """Build a new app from settings; tests pass their own client, database or timings, or
    a shorter `answer_deadline` (seconds a listener waits before acking "working on it")."""
    db = db or open_database(settings)
    client = client or make_client(settings)
    lifecycle = Lifecycle(
        upstream=bool(settings.simsid_upstream_url),
        remove_approvals=settings.simsid_remove_approvals,
        default_channel=settings.simsid_default_channel,
        clock=clock,
    )
    upstream = None
    if settings.simsid_upstream_url and settings.simsid_upstream_secret:
        upstream = UpstreamSender(
            settings.simsid_upstream_url, settings.simsid_upstream_secret.get_secret_value()
        )
    delivery = Delivery(
        db=db,
        client=client,
        tz=settings.tz,
        default_channel=settings.simsid_default_channel,
        upstream=upstream,
        clock=clock,
        timings=timings or Timings(),
    )
    admins = Admins(settings.admin_users, settings.admin_groups, client)
    access = Access(admins, db)
    commands = Commands(db=db, lifecycle=lifecycle, tz=settings.tz, clock=clock, access=access)
    operations = Operations(
        db=db,
        lifecycle=lifecycle,
        tz=settings.tz,
        on_change=delivery.nudge,
        still_admin=admins.still_admin,
        access=access,
        decided=delivery.decided,
    )
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    workspace = _Workspace(client, token)
    signing_secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )

    # Bolt passes arguments by the parameter names it sees, so hand it a plain function.
    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        return workspace.authorize(enterprise_id, team_id)

    # What listeners do after their ack. Bolt's default is 5 threads, and work queued
    # behind 5 slow ones (Slack slow to list a user group, a database lock) waited long.
    # Both pools run their work under the request's log context (log_context.py).
    after_ack = log_context.ContextExecutor(max_workers=32, thread_name_prefix="after-ack")
    bolt = App(
        # Socket Mode needs no signing secret; HTTP mode refuses to start without one.
        signing_secret=signing_secret or "socket-mode-only",
        client=client,
        authorize=authorize,  # type: ignore[arg-type]  # Bolt takes None as "not installed"
        request_verification_enabled=signing_secret is not None,
        user_facing_authorize_error_message="This app is not installed in this workspace.",
        # Listeners run on the request's own thread and Slack gets the answer the moment
        # they return: in Bolt's default mode the request thread polls for the ack every
        # 10 ms, which was most of a listing's latency. Work after an ack goes to
        # `after_ack` (listeners/errors.after_ack), so no answer waits for it.
        process_before_response=True,
        listener_executor=after_ack,
    )
    home = HomeTab(
        db=db,
        admins=admins,
        client=client,
        tz=settings.tz,
        users=tuple(sorted(settings.admin_users)),
        groups=settings.admin_groups,
        clock=clock,
        default_channel=settings.simsid_default_channel,
        access=access,
    )
    ctx = Services(
        admins=admins,
        access=access,
        commands=commands,
        operations=operations,
        home=home,
        executor=log_context.ContextExecutor(max_workers=8, thread_name_prefix="answer"),
        after_ack=after_ack,
        answer_deadline=answer_deadline,
        signing_secret=signing_secret,
        remove_approvals=settings.simsid_remove_approvals,
        claim_event=lambda event_id: _claim_event(db, event_id, clock),
        token_revoked=delivery.refusals.token_refused,
    )
    # Outermost, so it times every listener with the admin check in front of it.
    bolt.use(_ListenerTimer(ctx.answer_deadline))
    bolt.use(_WhoAsks())
    listeners.register(bolt, ctx)
    webhook = Webhook(db, lifecycle, settings.webhook_secrets(), on_accepted=delivery.nudge)
    wsgi = HttpApp(
        db,
        webhook,
        SlackRequestHandler(bolt) if signing_secret else None,
        signing_secret=signing_secret,
        clock=clock,
        metrics_endpoint=metrics.Endpoint(
            metrics.DatabaseCollector(db, workers),
            token=(
                settings.simsid_metrics_token.get_secret_value()
                if settings.simsid_metrics_token
                else None
            ),
            port=metrics_port,
        ),
    )
    return BotApp(
        settings=settings,
        db=db,
        bolt=bolt,
        client=client,
        lifecycle=lifecycle,
        delivery=delivery,
        commands=commands,
        operations=operations,
        wsgi=wsgi,
        answering=ctx.answering,
        services=ctx,
    )
