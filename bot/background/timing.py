"""The delivery loop's clock: how long it waits, and the passes a caller can wait on."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError

from store import outbox
from store.backoff import Backoff, retry_after
from store.backoff import backoff as DOUBLING
from store.db import DatabaseUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timings:
    """How long the loop waits between things; tests pass shorter ones."""

    # How often to look for due work when nobody nudges.
    poll_seconds: float = 1.0
    # After a nudge, how long to let more commits gather before claiming.
    gather_seconds: float = 0.05
    # Slack's chat.postMessage allows about one message per second per channel.
    channel_interval: timedelta = timedelta(seconds=1)
    # How long a claimed item stays this worker's (a crashed worker's claims expire).
    claim_seconds: float = outbox.CLAIM_SECONDS
    # When a failed item is tried again.
    backoff: Backoff = DOUBLING

    @property
    def heartbeat_seconds(self) -> float:
        """How often a live loop renews its claims: well inside claim_seconds, so a slow
        send never loses its claim while a dead process's claims lapse quickly."""
        return self.claim_seconds / 3


class Throttled(Exception):
    """Slack said 429: wait Retry-After seconds before this channel gets more."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after}s")
        self.retry_after = retry_after

    @classmethod
    def from_error(cls, error: SlackApiError) -> Throttled | None:
        """Slack's 429, waiting what it asked (a second when it did not say); else None."""
        if error.response is None or error.response.status_code != 429:
            return None
        headers = error.response.headers or {}
        value = headers.get("Retry-After") or headers.get("retry-after")
        seconds = retry_after(value[0] if isinstance(value, list) else value)
        return cls(seconds or 1.0)


@dataclass
class Paced(Exception):
    """This worker posted to the channel too recently: try again at `until`."""

    until: datetime


class Passes:
    """Counts the loop's passes, so another thread can wait for one that found no work."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._begun = 0
        self._idle = 0

    def begin(self) -> int:
        """A pass starts; returns its number."""
        with self._cond:
            self._begun += 1
            return self._begun

    def found_nothing(self, number: int) -> None:
        """Pass `number` claimed nothing."""
        with self._cond:
            self._idle = number
            self._cond.notify_all()

    def begun(self) -> int:
        with self._cond:
            return self._begun

    def wait_idle_after(self, number: int, timeout: float) -> bool:
        """Block until a pass later than `number` has found nothing; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._idle > number, max(0.0, timeout))

    def wait_settled(
        self, nudge: Callable[[], None], settled: Callable[[], bool], timeout: float
    ) -> bool:
        """Nudge the loop until a pass begun after the nudge finds nothing and `settled()`
        agrees (nothing falls due soon); False if `timeout` passes first."""
        deadline = time.monotonic() + timeout
        while True:
            begun = self.begun()
            nudge()
            if not self.wait_idle_after(begun, deadline - time.monotonic()):
                return False
            if settled():
                return True


def run_passes(
    name: str,
    run_once: Callable[[], int],
    passes: Passes,
    timings: Timings,
    wake: threading.Event,
    stop: threading.Event,
) -> None:
    """A delivery lane's loop until `stop`: a pass at a time (`run_once` returns how many
    items it claimed); when one finds nothing or fails, wait for a nudge or the next poll.
    A failed pass is logged and the loop goes on: the next pass tries again."""
    while not stop.is_set():
        number = passes.begin()
        try:
            busy = run_once()
        except DatabaseUnavailable as exc:
            log.warning("%s paused: database unavailable (%s)", name, exc)
            busy = -1
        except Exception:
            log.exception("%s loop error; continuing", name)
            busy = -1
        if busy == 0:
            passes.found_nothing(number)
        if busy <= 0:
            if wake.wait(timings.poll_seconds):
                # Commits come in runs (a burst of installs): one claim for a few.
                stop.wait(timings.gather_seconds)
            wake.clear()
