"""The upstream lane: decisions go to SIMSID_UPSTREAM_URL on a thread of their own.

A receiver that answers slowly, or not at all, holds up only the decisions behind it:
this lane claims upstream items only, and the Slack lane (`Delivery`, which starts and
stops this one) claims every other kind. Both claim in the database under one worker id,
whose heartbeat `Delivery` keeps, so any number of processes still never send an item
twice; an installation's decisions still go out one after the other (`claim_due`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot import log_context, metrics
from bot.background.actor_emails import ActorEmails
from bot.background.timing import Passes, Timings, run_passes
from bot.simsid.upstream import SendResult, UpstreamSender
from store import messages, outbox, user_emails
from store.db import Database, DatabaseUnavailable
from store.models import OutboxKind

log = logging.getLogger(__name__)

KINDS = (OutboxKind.UPSTREAM,)


@dataclass
class UpstreamLane:
    """Claims due decisions and sends them, one call at a time, each within its deadline."""

    db: Database
    sender: UpstreamSender | None
    default_channel: str | None
    clock: Callable[[], datetime]
    worker: str
    timings: Timings
    # Called after a try changed what an install message shows (wakes the Slack lane).
    on_change: Callable[[], None]
    # The decider's email for decisions recorded before it was known (None: never asked).
    emails: ActorEmails | None = None
    batch: int = 20
    passes: Passes = field(default_factory=Passes)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    # Claimed items left unsent when the database failed mid-batch, to give back.
    _unfinished: list[int] = field(default_factory=list)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="delivery-upstream", daemon=True)
        self._thread.start()

    def stop_soon(self) -> None:
        """Ask the lane to stop, ending a call in progress (its decision is kept)."""
        self._stop.set()
        self._wake.set()
        if self.sender is not None:
            self.sender.abort()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def stopped(self) -> None:
        """The thread has ended: let run_once() send again (a drain after stop)."""
        self._stop.clear()

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def nudge(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        if self.emails is not None and self.sender is not None:
            self.emails.check_scope()
        run_passes(
            "upstream delivery", self.run_once, self.passes, self.timings, self._wake, self._stop
        )

    def run_once(self) -> int:
        """Claim and send one batch of decisions; returns how many were claimed."""
        if self._unfinished:
            with self.db.session() as session:
                outbox.release_unfinished(session, self._unfinished, worker=self.worker)
            self._unfinished = []
        with self.db.session() as session:
            items = outbox.claim_due(
                session,
                worker=self.worker,
                now=self.clock(),
                limit=self.batch,
                kinds=KINDS,
                claim_seconds=self.timings.claim_seconds,
            )
        for index, item in enumerate(items):
            try:
                with log_context.bound(
                    request_id=item.request_id, installation_id=item.installation_id
                ):
                    self._perform(item)
            except DatabaseUnavailable:
                self._unfinished = [i.id for i in items[index:]]
                raise
        return len(items)

    def _with_email(self, item: outbox.Claimed) -> outbox.Claimed:
        """The decision with its author's email, asked of Slack (or the cache) before its
        first send when the lifecycle did not know it yet; stored, so every try sends
        the same body, and copied to the author's audit rows."""
        payload = item.payload
        if not payload or "actor_email" in payload:
            return item
        user = (payload.get("actor") or {}).get("slack_user")
        email = self.emails.email(user) if self.emails is not None and user else None
        with self.db.session() as session:
            payload = user_emails.fill_decision(session, item.id, payload, email)
        return replace(item, payload=payload)

    def _perform(self, item: outbox.Claimed) -> None:
        with self.db.session() as session:
            if self._stop.is_set():
                outbox.release(session, item, due_at=self.clock())
                return
            # Earlier decisions of the batch may have taken long enough for this claim to
            # lapse and another process to take the item: then it is theirs to send.
            if not outbox.renew_claim(
                session,
                item,
                worker=self.worker,
                now=self.clock(),
                claim_seconds=self.timings.claim_seconds,
            ):
                return
        if self.sender is None:
            # Configured off since the decision was recorded: keep it, do not drop it.
            with self.db.session() as session:
                outbox.release(session, item, due_at=self.clock() + timedelta(minutes=5))
            return
        result = self.sender.send(self._with_email(item), stop=self._stop)
        if not self._stop.is_set() or result.delivered:
            metrics.delivery(item.kind, _outcome(result))
        with self.db.session() as session:
            if result.delivered:
                outbox.complete(session, item, now=self.clock())
            elif self._stop.is_set():
                # Cut short by the stop, not by the receiver: not a try; due again at once.
                outbox.release(session, item, due_at=self.clock())
                return
            else:
                outbox.retry_later(
                    session,
                    item,
                    error=result.error or "failed",
                    delay=result.retry_after,
                    now=self.clock(),
                    give_up_after=result.give_up_after,
                    backoff=self.timings.backoff,
                )
            # The message shows the tries and the last error, so refresh it after every try
            # (refreshing only on the first failure left it showing "try 1" for hours).
            # Backoff spaces the tries out (five minutes apart once capped), and refreshes of
            # one message coalesce into a single edit.
            if item.installation_id is not None:
                messages.refresh(
                    session,
                    item.installation_id,
                    default_channel=self.default_channel,
                    now=self.clock(),
                )
        self.on_change()


def _outcome(result: SendResult) -> str:
    """The delivery metric's outcome for one try upstream."""
    if result.delivered:
        return "sent"
    if result.give_up_after is not None:
        return "refused_lasting"
    return "rate_limited" if result.retry_after else "retried"
