"""Delivery's pacing of first posts (one message per second per channel), without churn.

While a channel waits for its next turn, the first posts queued for it are held until
then in one statement, rather than each being claimed and given back again and again
(which, in a burst of installs, cost every process three transactions per waiting
message per second). A refresh of a message already posted (chat.update) never waits.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from sqlalchemy import select

from bot.background.bursts import BURST_THRESHOLD
from bot.background.delivery import Delivery
from bot.background.timing import Passes
from bot.sandbox.fake_slack import FakeSlack
from store.db import Database
from store.lifecycle import Action, Lifecycle
from store.models import OutboxItem
from tests.factories import act, get, install

CHANNEL = "C0PACE"
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _waiting(db: Database) -> list[OutboxItem]:
    with db.read() as session:
        return list(session.scalars(select(OutboxItem).where(OutboxItem.done_at.is_(None))))  # type: ignore[union-attr]


def test_first_posts_wait_for_the_channel_once_and_refreshes_do_not(db: Database) -> None:
    clock = Clock(START)
    lifecycle = Lifecycle(default_channel=CHANNEL, clock=clock)
    count = BURST_THRESHOLD - 2  # each install gets a message of its own, no summary
    ids = [
        install(db, lifecycle, site=f"s{n}", site_name=f"School {n}", at=START)
        for n in range(count)
    ]
    with FakeSlack() as fs:
        client = WebClient(token="xoxb-test", base_url=fs.api_url)
        # A small batch, so that most first posts are not even claimed by the first round.
        delivery = Delivery(
            db=db, client=client, tz=ZoneInfo("UTC"), default_channel=CHANNEL, clock=clock, batch=3
        )
        assert delivery.run_once() == 3
        assert len(fs.channel_messages(CHANNEL)) == 1
        turn = START + timedelta(seconds=1)
        waiting = _waiting(db)
        assert len(waiting) == count - 1
        # Every other first post, claimed or not, now waits for the channel's turn, free.
        assert all(i.due_at.replace(tzinfo=UTC) == turn for i in waiting)
        assert all(i.claimed_until is None for i in waiting)
        assert delivery.run_once() == 0  # nothing to claim and give back meanwhile

        # The posted message changes: its refresh is chat.update, which does not wait.
        posted = next(i for i in ids if get(db, i).message_ts)
        act(db, posted, Action.APPROVE, lifecycle=lifecycle)
        assert delivery.run_once() == 1
        assert [m for m, _ in fs.calls].count("chat.update") == 1

        for step in range(1, count):
            clock.now = START + timedelta(seconds=step)
            delivery.drain()
        assert len(fs.channel_messages(CHANNEL)) == count
        assert not _waiting(db)


class _ArrivalEachPass(Passes):
    """A pass counter that commits one more install as each of the first passes begins,
    as a steady stream of webhook events does."""

    def __init__(self, db: Database, lifecycle: Lifecycle, arrivals: int) -> None:
        super().__init__()
        self.db, self.lifecycle, self.arrivals = db, lifecycle, arrivals
        self.count = 0

    def begin(self) -> int:
        self.count += 1
        if self.count <= self.arrivals:
            install(self.db, self.lifecycle, site=f"late{self.count}", at=START)
        return super().begin()


class _StopOnWait(threading.Event):
    """The loop's wake-up event: the first time the loop waits on it, stop the loop."""

    def __init__(self, stop: threading.Event, passes: _ArrivalEachPass) -> None:
        super().__init__()
        self.stop, self.passes = stop, passes
        self.passes_before_wait: int | None = None

    def wait(self, timeout: float | None = None) -> bool:
        if self.passes_before_wait is None:
            self.passes_before_wait = self.passes.count
        self.stop.set()
        return False


def test_first_posts_arriving_while_the_channel_waits_are_left_alone(db: Database) -> None:
    # While a channel waits for its turn, new installs keep arriving. Claimed, each would
    # only be given back for the turn, and the loop, having claimed something, would
    # claim the next arrival at once: pass after pass of claims and give-backs, which
    # cost most of the webhook's CPU during a stream of installs. They stay unclaimed
    # until the turn, and the loop waits for the next commit (or poll).
    clock = Clock(START)
    lifecycle = Lifecycle(default_channel=CHANNEL, clock=clock)
    install(db, lifecycle, site="first", at=START)
    with FakeSlack() as fs:
        client = WebClient(token="xoxb-test", base_url=fs.api_url)
        delivery = Delivery(
            db=db, client=client, tz=ZoneInfo("UTC"), default_channel=CHANNEL, clock=clock
        )
        assert delivery.run_once() == 1  # the first post; the channel's next turn is in 1 s
        passes = _ArrivalEachPass(db, lifecycle, arrivals=5)
        wake = _StopOnWait(delivery._stop, passes)
        delivery._passes, delivery._wake = passes, wake
        delivery._run()  # returns once it waits (the event stops it)
        assert wake.passes_before_wait == 1
        assert len(fs.channel_messages(CHANNEL)) == 1
        waiting = _waiting(db)
        assert len(waiting) == 1  # the arrival, not claimed
        assert waiting[0].claimed_until is None

        delivery._stop.clear()
        clock.now = START + timedelta(seconds=1)  # the channel's turn: posted now
        delivery.drain()
        assert len(fs.channel_messages(CHANNEL)) == 2
        assert not _waiting(db)
