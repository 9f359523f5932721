"""Group commit of install events: one transaction for the events that arrive together.

Each install event must be durable before its sender is answered, and a commit costs
far more than the rows in it (an fsync, a round trip, SQLite's one-writer lock). So the
requests of one process hand their events to a single committer thread and wait; it
writes everything waiting in one transaction through `Lifecycle.apply_events` (same
rules as one at a time: idempotent by id, occurred_at order per installation, arrival
order otherwise) and wakes each request once the commit holding its event is done.
While one batch commits, the next one gathers; on SQLite, so do the events that arrive
while the committer waits for the write lock (it takes its batch once it holds it).

A batch that fails is tried again one event per transaction, so an event that cannot be
stored fails only its own request. When the database is unavailable, every request of
the batch hears so (DatabaseUnavailable), and none of their events is stored.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from store import request_id
from store.db import Database, DatabaseUnavailable
from store.lifecycle import ConcurrentChange, EventResult, InstallEvent, Lifecycle

log = logging.getLogger(__name__)

# Events per transaction at most: the set-based statements stay well inside SQLite's
# bound-parameter limit, and one slow batch holds few requests.
MAX_BATCH = 100
CONCURRENT_RETRIES = 3
# A committer with nothing to do for this long ends; the next event starts another.
IDLE_SECONDS = 30.0


class _Pending:
    """One event and its request, which waits on a lock the committer releases: the
    cheapest hand-off between two threads (a Future's condition costs several times it)."""

    __slots__ = ("_done", "error", "event", "outcome", "request_id")

    def __init__(self, event: InstallEvent) -> None:
        self.event = event
        self.request_id = request_id.CURRENT.get()
        self.outcome: EventResult | None = None
        self.error: BaseException | None = None
        self._done = threading.Lock()
        self._done.acquire()

    def finish(self, outcome: EventResult | None, error: BaseException | None = None) -> None:
        self.outcome, self.error = outcome, error
        self._done.release()

    def result(self) -> EventResult:
        self._done.acquire()
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


class GroupCommit:
    """Applies install events for many threads, several per transaction."""

    def __init__(self, db: Database, lifecycle: Lifecycle) -> None:
        self.db = db
        self._lifecycle = lifecycle
        self._queue: deque[_Pending] = deque()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def apply(self, event: InstallEvent) -> EventResult:
        """Apply `event` and return once it is committed (or raise why it was not)."""
        pending = _Pending(event)
        with self._lock:
            self._queue.append(pending)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self._thread.start()
            self._work.notify()
        return pending.result()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._work.wait(IDLE_SECONDS)
                if not self._queue:
                    self._thread = None  # under the lock: apply() starts the next one
                    return
            self._commit(None)

    def _commit(self, batch: list[_Pending] | None) -> None:
        """Write `batch`; None: whatever is waiting once the transaction has begun. On
        SQLite that is once this process holds the write lock, so the events that arrive
        while another writer holds it join this transaction instead of waiting for it."""
        taken = list(batch or ())

        def take() -> list[InstallEvent]:
            if batch is None and not taken:
                with self._lock:
                    taken.extend(
                        self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))
                    )
            # What this thread queues is under the request of the event it stores; events
            # of several requests sharing a transaction share no one id.
            ids = {p.request_id for p in taken}
            request_id.CURRENT.set(ids.pop() if len(ids) == 1 else None)
            return [p.event for p in taken]

        try:
            outcomes = self._apply(take)
        except DatabaseUnavailable as exc:
            take()  # when it failed to begin: the events waiting are its batch
            for pending in taken:
                pending.finish(None, DatabaseUnavailable(str(exc)))
            return
        except Exception as exc:
            take()
            if len(taken) == 1:
                taken[0].finish(None, exc)
                return
            log.warning(
                "a batch of %d install events failed (%s); storing them one by one",
                len(taken),
                type(exc).__name__,
            )
            for pending in taken:
                self._commit([pending])
            return
        for pending, outcome in zip(taken, outcomes, strict=True):
            pending.finish(outcome)

    def _apply(self, take: Callable[[], list[InstallEvent]]) -> list[EventResult]:
        events: list[InstallEvent] | None = None
        for attempt in range(CONCURRENT_RETRIES):
            try:
                with self.db.session() as session:
                    session.connection()  # BEGIN (IMMEDIATE on SQLite, which may wait)
                    events = take() if events is None else events
                    return self._lifecycle.apply_events(session, events)
            except ConcurrentChange:
                # Another process changed one of these installations meanwhile. A batch
                # is then stored one by one (above), where only that event tries again.
                if events is None or len(events) > 1:
                    raise
                if attempt == CONCURRENT_RETRIES - 1:
                    raise DatabaseUnavailable("the installation kept changing") from None
        raise AssertionError("unreachable")
