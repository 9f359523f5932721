"""The delivery loop: performs outbox items (Slack messages, reminders, digests, upstream).

Every `serve` and `worker` process runs one. Items are claimed in the database, so any
number of processes can run without doing the same work twice; a crash frees a claim
when it expires. Messages are rendered from the installation's state at send time.
Decisions for upstream go out on a lane of their own (upstream_lane), which a slow
receiver cannot share with Slack's messages.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse
from sqlmodel import Session

from bot import log_context, metrics
from bot.background.actor_emails import ActorEmails
from bot.background.bursts import summarise_burst
from bot.background.refusals import Held, Refusals, Refused, log_payload_refused
from bot.background.timing import Paced, Passes, Throttled, Timings, run_passes
from bot.background.upstream_lane import UpstreamLane
from bot.reconcile.notice import Notice
from bot.simsid.upstream import UpstreamSender
from bot.slack import views
from bot.slack.client import Lasting, describe_error
from bot.slack.views.decide import decided_notice
from store import messages, outbox, queries, refusals, windows
from store.db import Database, DatabaseUnavailable
from store.models import MessageStatus, OutboxKind, State, utcnow

log = logging.getLogger(__name__)

_NOTHING_TO_POST = (MessageStatus.SUMMARISED, MessageStatus.SILENT)
# What this (Slack) lane claims: everything but decisions for upstream.
SLACK_KINDS = tuple(kind for kind in OutboxKind if kind is not OutboxKind.UPSTREAM)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Delivery:
    """Claims due outbox items and performs them; `nudge()` after a commit for low latency."""

    db: Database
    client: WebClient
    tz: ZoneInfo
    default_channel: str | None
    upstream: UpstreamSender | None = None
    clock: Callable[[], datetime] = utcnow
    worker: str = field(default_factory=worker_id)
    batch: int = 20
    timings: Timings = field(default_factory=Timings)
    _next_post: dict[str, datetime] = field(default_factory=dict)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _heartbeat: threading.Thread | None = None
    _passes: Passes = field(default_factory=Passes)
    # Claimed items left unfinished when the database failed mid-batch, to give back.
    _unfinished: list[int] = field(default_factory=list)
    # What Slack already holds but the database could not record yet (see _record).
    _unrecorded: list[Callable[[Session], None]] = field(default_factory=list)
    _upstream_lane: UpstreamLane = field(init=False)
    # Slack's lasting refusals (a channel, the token, a payload): bot/background/refusals.py.
    refusals: Refusals = field(init=False)

    def __post_init__(self) -> None:
        self.refusals = Refusals(self.db, self.client, self.default_channel, clock=self.clock)
        self._upstream_lane = UpstreamLane(
            db=self.db,
            sender=self.upstream,
            default_channel=self.default_channel,
            clock=self.clock,
            worker=self.worker,  # one heartbeat (below) keeps both lanes' claims
            timings=self.timings,
            on_change=self._wake.set,
            emails=ActorEmails(self.db, self.client, self.clock),
        )

    def decided(self, actor: str) -> None:
        """Someone decided: without an upstream lane to ask for their email before sending,
        ask now, off the ack path, for their audit rows."""
        if self.upstream is None and self._upstream_lane.emails is not None:
            self._upstream_lane.emails.learn(actor)

    # -- the loop ------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="delivery", daemon=True)
        self._thread.start()
        self._upstream_lane.start()
        self._heartbeat = threading.Thread(
            target=self._renew_claims, name="delivery-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._upstream_lane.stop_soon()
        for thread in (self._thread, self._heartbeat):
            if thread is not None:
                thread.join(timeout)
        self._upstream_lane.join(timeout)
        if self._upstream_lane.emails is not None:
            self._upstream_lane.emails.finish(timeout)
        # The flag tells running loops to end. Once they have, drain() must still post what
        # is due (a one-shot command, a test after serving): with the flag up it would claim
        # each item and give it back unsent.
        heartbeat_alive = self._heartbeat is not None and self._heartbeat.is_alive()
        if not self.running() and not heartbeat_alive:
            self._stop.clear()
            self._upstream_lane.stopped()

    def running(self) -> bool:
        """Whether either lane's thread is still running (after stop(): it did not end)."""
        alive = self._thread is not None and self._thread.is_alive()
        return alive or self._upstream_lane.running()

    def _renew_claims(self) -> None:
        """Keep this live process's claims from lapsing while it works (a slow Slack call or
        upstream); a killed process stops renewing, and its rows are free within a claim."""
        while not self._stop.wait(self.timings.heartbeat_seconds):
            try:
                with self.db.session() as session:
                    outbox.extend_claims(
                        session,
                        worker=self.worker,
                        now=self.clock(),
                        claim_seconds=self.timings.claim_seconds,
                    )
            except DatabaseUnavailable as exc:
                log.warning("could not renew delivery claims: database unavailable (%s)", exc)

    def nudge(self) -> None:
        """Deliver now rather than at the next poll (called after a commit)."""
        self._wake.set()
        self._upstream_lane.nudge()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until a pass of the running loop, begun after this call, finds nothing due
        and nothing falls due within a poll; False after `timeout`. Tests wait on this to
        see that nothing more will be sent, rather than sleeping."""
        deadline = time.monotonic() + timeout
        return all(
            passes.wait_settled(self.nudge, self._settled, deadline - time.monotonic())
            for passes in (self._passes, self._upstream_lane.passes)
        )

    def _settled(self) -> bool:
        with self.db.read() as session:
            due = outbox.next_due(session)
        return due is None or due > self.clock() + timedelta(seconds=self.timings.poll_seconds)

    def _run(self) -> None:
        run_passes("delivery", self.run_once, self._passes, self.timings, self._wake, self._stop)

    def run_once(self) -> int:
        """Claim and perform one batch; returns how many items were claimed."""
        if self._unrecorded:
            with self.db.session() as session:
                for write in self._unrecorded:
                    write(session)
            self._unrecorded = []
        if self._unfinished:
            with self.db.session() as session:
                outbox.release_unfinished(session, self._unfinished, worker=self.worker)
            self._unfinished = []
        self.refusals.refresh()
        # While Slack refuses the token, this lane claims nothing (decisions upstream go on
        # in their own lane); the items wait for the token.
        if self.refusals.paused():
            return 0
        now = self.clock()
        # First posts to a channel this process posted to within the second wait for its
        # turn where they are: claimed, they would only be given back.
        waiting = [channel for channel, ready in self._next_post.items() if ready > now]
        with self.db.session() as session:
            items = outbox.claim_due(
                session,
                worker=self.worker,
                now=now,
                limit=self.batch,
                kinds=SLACK_KINDS,
                claim_seconds=self.timings.claim_seconds,
                hold_first_posts=waiting,
            )
        statuses: dict[int, MessageStatus] = {}
        if any(i.kind is OutboxKind.MESSAGE for i in items):
            with self.db.read() as session:
                statuses = outbox.message_statuses(session, items)
        # A message summarised or silenced meanwhile needs nothing from Slack: done at once.
        idle = {i.id for i in items if statuses.get(i.id) in _NOTHING_TO_POST}
        if idle:
            with self.db.session() as session:
                for item in items:
                    if item.id in idle:
                        outbox.complete(session, item, now=self.clock())
        paced: dict[tuple[datetime, str], list[int]] = defaultdict(list)
        for index, item in enumerate(items):
            if item.id in idle:
                continue
            if self._stop.is_set():
                with self.db.session() as session:
                    outbox.release(session, item, due_at=self.clock())
                continue
            ready = self._next_post.get(item.channel or "")
            if statuses.get(item.id) is MessageStatus.UNSENT and ready and ready > self.clock():
                # A first post waits for its channel's turn (a refresh, chat.update, never).
                paced[ready, item.channel or ""].append(item.id)
                continue
            try:
                with log_context.bound(
                    request_id=item.request_id, installation_id=item.installation_id
                ):
                    self._perform(item)
            except DatabaseUnavailable:
                # Give the rest of the batch back as soon as the database answers again:
                # left claimed, a message would show a stale state until the claims lapse.
                later = [i.id for i in items[index:]]
                self._unfinished = [i for ids in paced.values() for i in ids] + later
                raise
        if paced:  # given back together: one transaction, not three for each
            with self.db.session() as session:
                for (until, channel), ids in paced.items():
                    outbox.release_many(session, ids, worker=self.worker, due_at=until)
                    outbox.postpone_first_posts(session, channel, until)
        return len(items)

    def drain(self, *, max_rounds: int = 1000) -> None:
        """Perform everything due now, on both lanes (tests and one-shot commands)."""
        for _ in range(max_rounds):
            if not self.run_once() + self._upstream_lane.run_once():
                return

    # -- one item ------------------------------------------------------------

    def _perform(self, item: outbox.Claimed) -> None:
        with self.db.session() as session:
            # Earlier items of this batch may have been slow enough for our claim to expire
            # and another process to take this one: then it is theirs to do, not ours.
            if not outbox.renew_claim(
                session,
                item,
                worker=self.worker,
                now=self.clock(),
                claim_seconds=self.timings.claim_seconds,
            ):
                return
        try:
            if self.refusals.token_refused_now:
                raise Held(refusals.CREDENTIALS, "token refused", self.clock())
            if item.kind is OutboxKind.MESSAGE:
                self._deliver_message(item)
            elif item.kind is OutboxKind.REMINDER:
                self._deliver_reminder(item)
            elif item.kind is OutboxKind.DIGEST:
                self._deliver_digest(item)
            elif item.kind is OutboxKind.NOTICE:
                self._deliver_notice(item)
            with self.db.session() as session:
                outbox.complete(session, item, now=self.clock())
            log.info("delivered %s item %s", item.kind, item.id)
            metrics.delivery(item.kind, "sent")
        except Throttled as exc:
            metrics.delivery(item.kind, "rate_limited")
            until = self.clock() + timedelta(seconds=exc.retry_after)
            with self.db.session() as session:
                if item.channel:
                    outbox.postpone_channel(session, item.channel, until)
                outbox.release(session, item, due_at=until)
            if item.channel:
                self._next_post[item.channel] = until
        except Paced as paced:
            with self.db.session() as session:
                outbox.release(session, item, due_at=paced.until)
                if item.kind is OutboxKind.MESSAGE and item.channel:
                    outbox.postpone_first_posts(session, item.channel, paced.until)
        except Held as held:
            metrics.delivery(item.kind, "held")
            self.refusals.hold(item, held.target, held.error, held.until)
        except Refused as refused:
            metrics.delivery(item.kind, "refused_lasting")
            self._refused(item, refused)
        except (SlackApiError, SlackClientError, OSError) as exc:
            metrics.delivery(item.kind, "retried")
            error = describe_error(exc)
            log.warning("Slack delivery of %s %s failed: %s", item.kind, item.id, error)
            with self.db.session() as session:
                outbox.retry_later(
                    session, item, error=error, now=self.clock(), backoff=self.timings.backoff
                )

    def _refused(self, item: outbox.Claimed, refused: Refused) -> None:
        """A lasting refusal: pause for the token, hold for a channel, drop a payload Slack
        will never take (an install message was already sent in its least form)."""
        if refused.kind is Lasting.TOKEN:
            self.refusals.token_refused(refused.error)
            self.refusals.hold(item, refusals.CREDENTIALS, refused.error, self.clock())
        elif refused.kind is Lasting.CHANNEL and refused.channel:
            self.refusals.channel_refused(refused.channel, refused.error)
            target = refusals.channel_target(refused.channel)
            until = self.clock() + timedelta(seconds=self.refusals.hold_seconds)
            self.refusals.hold(item, target, refused.error, until)
        else:
            log_payload_refused(f"{item.kind} {item.id}", refused)
            with self.db.session() as session:
                outbox.retry_later(
                    session, item, error=str(refused), now=self.clock(), give_up_after=1
                )

    def _pace(self, channel: str) -> None:
        now = self.clock()
        ready = self._next_post.get(channel)
        if ready is not None and ready > now:
            raise Paced(ready)
        self._next_post[channel] = now + self.timings.channel_interval

    def _call(self, method: Callable[..., SlackResponse], **kwargs: object) -> SlackResponse:
        channel = kwargs.get("channel")
        try:
            response = method(**kwargs)
        except SlackApiError as exc:
            metrics.slack_api_error(metrics.slack_method(method), exc.response.get("error"))
            throttled = Throttled.from_error(exc)
            if throttled is not None:
                raise throttled from exc
            refused = Refused.from_error(exc, channel)
            if refused is not None:
                raise refused from exc
            raise
        if isinstance(channel, str):  # the channel takes posts (again): what it held goes out
            self.refusals.cleared(refusals.channel_target(channel))
        return response

    def _deliver_message(self, item: outbox.Claimed) -> None:
        assert item.installation_id is not None
        with self.db.read() as session:
            info = queries.installation(session, item.installation_id)
            status = messages.message_status(session, item.installation_id)
        if info is None or status in (MessageStatus.SUMMARISED, MessageStatus.SILENT):
            return
        if info.message_ts and info.message_channel:
            elsewhere = self.refusals.elsewhere(info, info.message_channel)
            try:
                self._send_install(info, info.message_channel, elsewhere, ts=info.message_ts)
                return
            except SlackApiError as exc:
                if exc.response is None or exc.response.get("error") != "message_not_found":
                    raise
                with self.db.session() as session:
                    messages.forget_message(session, info.id)
        channel = messages.route(item.channel, info.app.channel, self.default_channel)
        if not channel:
            log.error("no channel for installation %s: set SIMSID_DEFAULT_CHANNEL", info.id)
            return
        elsewhere = None
        try:
            self.refusals.gate(channel, ahead=True)
        except Held as held:
            if not self._can_fall_back(channel):
                raise
            elsewhere = (channel, held.error)
        if elsewhere is None:
            self._pace(channel)
            if summarise_burst(
                self.db,
                channel,
                worker=self.worker,
                clock=self.clock,
                post=self._post,
                record=self._record,
            ):
                return
            try:
                response = self._send_install(info, channel, None)
            except Refused as refused:
                if refused.kind is not Lasting.CHANNEL or not self._can_fall_back(channel):
                    raise
                self.refusals.channel_refused(channel, refused.error)
                self.refusals.tell(channel, refused.error, self._post)
                elsewhere = (channel, refused.error)
        if elsewhere is not None:
            # The default channel takes it, with a line saying where it belonged; its
            # buttons and later edits work there (message_channel records it).
            assert self.default_channel is not None
            channel = self.default_channel
            self._pace(channel)  # a burst for a refused channel must not flood this one
            response = self._send_install(info, channel, elsewhere)
        ts = str(response["ts"])
        posted_channel = str(response.get("channel") or channel)
        self._record(
            lambda session: messages.record_posted(session, info.id, channel=posted_channel, ts=ts)
        )

    def _can_fall_back(self, channel: str) -> bool:
        return bool(self.default_channel) and channel != self.default_channel

    def _send_install(
        self,
        info: queries.InstallationInfo,
        channel: str,
        elsewhere: tuple[str, str | None] | None,
        *,
        ts: str | None = None,
    ) -> SlackResponse:
        """Post (or with `ts`, edit) the install message; when Slack refuses its payload,
        send its least form, so that the request still reaches someone."""
        if info.id not in self.refusals.minimal:
            try:
                full = views.install_message(info, self.tz, elsewhere=elsewhere)
                return self._send(channel, full, ts)
            except Refused as refused:
                if refused.kind is not Lasting.PAYLOAD:
                    raise
                log_payload_refused(f"the install message of installation {info.id}", refused)
                self.refusals.minimal.add(info.id)
        return self._send(channel, views.install_minimal(info), ts)

    def _send(self, channel: str, message: views.Message, ts: str | None) -> SlackResponse:
        if ts is None:
            return self._post(channel, message)
        self.refusals.gate(channel)
        return self._call(
            self.client.chat_update,
            channel=channel,
            ts=ts,
            text=message.text,
            blocks=message.to_dict()["blocks"],
        )

    def _record(self, write: Callable[[Session], None]) -> None:
        """Write down what Slack now holds. If the database has just gone away, keep the
        write to do first when it is back: redone from the outbox instead, the post would
        be made a second time."""
        try:
            with self.db.session() as session:
                write(session)
        except DatabaseUnavailable:
            self._unrecorded.append(write)
            raise

    def _post(self, channel: str, message: views.Message, **extra: object) -> SlackResponse:
        """chat.postMessage; no post unfurls links (names from SIMS ID may be URLs)."""
        self.refusals.gate(channel)
        return self._call(
            self.client.chat_postMessage,
            channel=channel,
            text=message.text,
            blocks=message.to_dict()["blocks"],
            unfurl_links=False,
            unfurl_media=False,
            **extra,
        )

    def _deliver_reminder(self, item: outbox.Claimed) -> None:
        assert item.installation_id is not None
        with self.db.read() as session:
            info = queries.installation(session, item.installation_id)
        if info is None or info.state is not State.PENDING:
            return  # acted on meanwhile
        if not (info.message_ts and info.message_channel):
            return  # no message to reply under
        waited = (self.clock() - info.created_at).total_seconds()
        message = views.reminder(info, waited)
        self._pace(info.message_channel)
        self._post(info.message_channel, message, thread_ts=info.message_ts)

    def _deliver_digest(self, item: outbox.Claimed) -> None:
        channel = item.channel or self.default_channel
        now = self.clock()
        with self.db.read() as session:
            counts = queries.pending_counts(session)
            oldest = queries.pending(session, limit=5).items
            ending, ending_total = windows.ending_between(session, now, now + timedelta(days=1))
        if not (counts or ending_total) or not channel:
            return
        message = views.digest(
            counts, list(oldest), self.tz, now, ending=ending, ending_total=ending_total
        )
        self._pace(channel)
        self._post(channel, message)
        metrics.digest_sent()

    def _deliver_notice(self, item: outbox.Claimed) -> None:
        channel = item.channel or self.default_channel
        if not channel or not item.payload:
            return
        self._pace(channel)
        notice = item.payload.get("notice")
        if notice == "window_ended":
            self._post(channel, views.window_notice(item.payload))
        elif notice == "decided":
            self._post(channel, decided_notice(item.payload))
        else:
            self._post(channel, views.reconcile_notice(Notice.from_payload(item.payload)))
