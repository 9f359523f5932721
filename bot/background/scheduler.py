"""Scheduled work: the pending digest and reminders, exactly once however many processes run.

Each process runs its own APScheduler with an in-memory job store (APScheduler 3 forbids
sharing one). They agree through the database instead: a job inserts a claim row for its
digest period or reminder step (store/claims.py), and only the insert that wins queues
the work in the outbox, in the same transaction. Delivery then posts it
(bot/background/delivery.py), rendering the digest from the state at send time.

Rules:

* Digest periods are the cron's fire times: the period containing `now` starts at the
  latest fire time at or before `now`, computed in SIMSID_TIMEZONE, so "08:00" stays 08:00
  local across daylight saving changes.
* A run missed because no process was up (at 08:00, say) is posted when one starts,
  once, if that is within `grace` of the period start; later than that it is skipped,
  since a digest at 15:00 for the morning is noise and the next period is not far off.
* Nothing pending: no post and no claim, so a later run in the same period (a catch-up
  after a restart, or `simsid-bot digest`) still posts if something has arrived since.
* `force` posts whether or not the period's digest went out, and records the period's
  claim if it was free so a later catch-up in the same period does not post it again.
* Reminders: see store/claims.py (first after SIMSID_REMIND_AFTER_HOURS, then at doubling
  intervals from the start of the pending cycle; 0 hours turns them off).
* Maintenance windows: at start and every minute, each window whose end has come is ended
  once (store/windows.py), so one that ended while no process was up ends at start.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot import metrics
from bot.background.delivery import worker_id
from bot.config import Settings
from bot.cron import cron_trigger, period_start
from bot.reconcile import snapshot
from bot.reconcile.scheduled import run_scheduled
from store import claims, outbox, queries, retention, windows
from store.db import Database, DatabaseUnavailable
from store.lifecycle import Lifecycle
from store.models import OutboxKind, utcnow

if TYPE_CHECKING:
    from bot.app import BotApp

log = logging.getLogger(__name__)

DigestResult = Literal["posted", "already", "nothing pending", "outside grace"]

DIGEST_JOB = "simsid-digest"
REMINDERS_JOB = "simsid-reminders"
PRUNE_JOB = "simsid-prune"
PRUNE_INTERVAL = timedelta(hours=6)
RECONCILE_JOB = "simsid-reconcile"
WINDOWS_JOB = "simsid-windows"
WINDOWS_INTERVAL = timedelta(minutes=1)

DIGEST_GRACE = timedelta(hours=2)
REMINDER_INTERVAL = timedelta(minutes=5)
REMINDER_MIN_INTERVAL = timedelta(seconds=10)

# -- the digest ---------------------------------------------------------------


def post_digest(
    db: Database,
    *,
    channel: str,
    cron: str,
    tz: ZoneInfo,
    now: datetime,
    by: str,
    force: bool = False,
    grace: timedelta | None = DIGEST_GRACE,
) -> DigestResult:
    """Queue the digest of the period containing `now` for `channel`, once per period.

    "posted": this call queued it (deliver it with the delivery loop); "already": another
    run did, this period; "nothing pending": nothing waits, nothing is queued;
    "outside grace": more than `grace` after the period began (None: no limit), the
    run counts as missed. `force` skips both the grace and the once-per-period checks.
    """
    period = period_start(now, cron, tz)
    if not force and (period is None or (grace is not None and now - period > grace)):
        return "outside grace"
    with db.session() as session:
        ending = windows.ending_between(session, now, now + timedelta(days=1), limit=1)[1]
        if not queries.pending(session, limit=1).items and not ending:
            return "nothing pending"
        won = period is not None and claims.claim(
            session, claims.digest_period_key(channel, period), by=by, now=now
        )
        if not (won or force):
            return "already"
        outbox.enqueue(
            session,
            OutboxKind.DIGEST,
            now=now,
            channel=channel,
            payload={"period": (period or now).astimezone(UTC).isoformat()},
        )
    return "posted"


# -- reminders ----------------------------------------------------------------


def send_reminders(
    db: Database,
    *,
    now: datetime,
    remind_after_hours: float,
    by: str,
    limit: int = 500,
) -> int:
    """Queue every reminder due now, each step once; returns how many this call queued.

    At most `limit` per call: the job runs every few minutes, and Slack takes about one
    message a second per channel anyway. 0 hours turns reminders off.
    """
    if remind_after_hours <= 0:
        return 0
    first_after = timedelta(hours=remind_after_hours)
    with db.read() as session:
        due = claims.due_reminders(session, now=now, first_after=first_after, limit=limit)
    queued = 0
    # One transaction each: a racing process waits on one row at a time, not on a batch.
    for installation_id, step in due:
        with db.session() as session:
            queued += claims.record_reminder(session, installation_id, step, now=now, by=by)
    return queued


# -- maintenance windows ------------------------------------------------------


def end_windows(db: Database, lifecycle: Lifecycle, *, now: datetime) -> int:
    """End every window due at `now`, each once across processes; returns how many this
    call re-enabled."""
    with db.read() as session:
        due = windows.due(session, now=now)
    enabled = 0
    # One transaction each: a window another process is ending costs one row's wait.
    for window in due:
        with db.session() as session:
            ended = windows.end(session, lifecycle, window, now=now)
        if ended is not None and ended.enabled:
            enabled += 1
            log.info("maintenance window %s ended: installation enabled", window.id)
    return enabled


# -- the scheduler ------------------------------------------------------------


class Scheduler:
    """One process's digest and reminder jobs; the database makes each run count once.

    `on_work` is called after a job queued something (the delivery loop's nudge).
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        on_work: Callable[[], None],
        clock: Callable[[], datetime] = utcnow,
        lifecycle: Lifecycle | None = None,
        windows_every: timedelta = WINDOWS_INTERVAL,
    ) -> None:
        self.db = db
        # Ends maintenance windows through the app's own lifecycle (decisions upstream).
        self.lifecycle = lifecycle or Lifecycle(
            default_channel=settings.simsid_default_channel, clock=clock
        )
        self.settings = settings
        self.on_work = on_work
        self.clock = clock
        self.tz = settings.tz
        self.windows_every = windows_every  # the sandbox checks every few seconds
        self.worker = worker_id()
        self._scheduler = BackgroundScheduler(timezone=self.tz)
        # Set by shutdown: a job waiting on the network (the list's fetch) ends at once.
        self._stopping = threading.Event()

    @classmethod
    def for_app(cls, bot: BotApp, *, windows_every: timedelta = WINDOWS_INTERVAL) -> Scheduler:
        """The jobs of a running app: its database and settings, nudging its delivery."""
        return cls(
            bot.db,
            bot.settings,
            on_work=bot.delivery.nudge,
            lifecycle=bot.lifecycle,
            windows_every=windows_every,
        )

    def start(self) -> Scheduler:
        """Add the jobs and start the scheduler's thread; returns self."""
        self._add_digest_jobs()
        self._add_reminder_job()
        self._add_prune_job()
        self._add_reconcile_job()
        self._add_windows_job()
        self._scheduler.start()
        return self

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; with `wait`, let running jobs finish first (a fetch of the
        list is cut short: its run is recorded as failed)."""
        self._stopping.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def job_ids(self) -> list[str]:
        return sorted(job.id for job in self._scheduler.get_jobs())

    def run_digest(self) -> DigestResult | None:
        """The digest job (scheduled, and once at start to catch up a missed run)."""
        channel = self.settings.simsid_default_channel
        if channel is None:
            return None
        try:
            outcome = post_digest(
                self.db,
                channel=channel,
                cron=self.settings.simsid_digest_cron,
                tz=self.tz,
                now=self.clock(),
                by=self.worker,
                grace=DIGEST_GRACE,
            )
        except DatabaseUnavailable as exc:
            log.warning("digest skipped: database unavailable (%s)", exc)
            return None
        log.info("digest: %s", outcome)
        if outcome == "posted":
            self.on_work()
        return outcome

    def run_reminders(self) -> int:
        """The reminders job."""
        try:
            queued = send_reminders(
                self.db,
                now=self.clock(),
                remind_after_hours=self.settings.simsid_remind_after_hours,
                by=self.worker,
            )
        except DatabaseUnavailable as exc:
            log.warning("reminders skipped: database unavailable (%s)", exc)
            return 0
        if queued:
            log.info("reminders queued: %d", queued)
            self.on_work()
        return queued

    def run_prune(self) -> retention.Pruned:
        """The pruning job: processed event ids, finished deliveries, job claims and cached
        emails older than SIMSID_RETENTION_DAYS, in small transactions. Never the audit log."""
        before = retention.cutoff(self.clock(), self.settings.simsid_retention_days)
        counts = {"events": 0, "deliveries": 0, "claims": 0, "emails": 0}
        steps = {
            "events": retention.prune_events,
            "deliveries": retention.prune_deliveries,
            "claims": retention.prune_claims,
            "emails": retention.prune_emails,
        }
        try:
            for name, prune in steps.items():
                while True:
                    with self.db.session() as session:
                        batch = prune(session, before=before)
                    counts[name] += batch
                    if batch < retention.BATCH:
                        break
        except DatabaseUnavailable as exc:
            log.warning("pruning stopped: database unavailable (%s)", exc)
        if any(counts.values()):
            log.info(
                "pruned %d event ids, %d finished deliveries and %d job claims",
                counts["events"],
                counts["deliveries"],
                counts["claims"],
            )
        return retention.Pruned(**counts)

    def _add_prune_job(self) -> None:
        # Concurrent runs in several processes are harmless: each deletes what is left.
        self._scheduler.add_job(
            self.run_prune,
            IntervalTrigger(seconds=PRUNE_INTERVAL.total_seconds(), timezone=self.tz),
            id=PRUNE_JOB,
            name="prune old event ids and deliveries",
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(self.tz) + timedelta(minutes=1),
        )

    def run_reconcile(self) -> str:
        """The reconciliation job (bot/reconcile/scheduled.py): never raises."""
        load = functools.partial(snapshot.load, stop=self._stopping)
        try:
            outcome = run_scheduled(
                self.db, self.settings, now=self.clock(), by=self.worker, load=load
            )
        except DatabaseUnavailable as exc:
            log.warning("reconcile skipped: database unavailable (%s)", exc)
            metrics.reconcile_run("failed")
            return "failed"
        if outcome not in ("already", "not configured"):
            metrics.reconcile_run(outcome)
        if outcome in ("applied", "refused"):
            self.on_work()
        return outcome

    def run_windows(self) -> int:
        """The maintenance windows job: re-enable what each window due now disabled."""
        try:
            enabled = end_windows(self.db, self.lifecycle, now=self.clock())
        except DatabaseUnavailable as exc:
            log.warning("maintenance windows skipped: database unavailable (%s)", exc)
            return 0
        if enabled:
            self.on_work()
        return enabled

    def _add_windows_job(self) -> None:
        self._scheduler.add_job(
            self.run_windows,
            IntervalTrigger(seconds=self.windows_every.total_seconds(), timezone=self.tz),
            id=WINDOWS_JOB,
            name="end maintenance windows",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(self.windows_every.total_seconds())),
            # At start: a window that ended while no process was up ends now.
            next_run_time=datetime.now(self.tz),
        )

    def _add_reconcile_job(self) -> None:
        if not self.settings.simsid_reconcile_url:
            return
        self._scheduler.add_job(
            self.run_reconcile,
            cron_trigger(self.settings.simsid_reconcile_cron, self.tz),
            id=RECONCILE_JOB,
            name="reconcile with SIMS ID's list",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=600,
        )

    def _add_digest_jobs(self) -> None:
        if self.settings.simsid_default_channel is None:
            log.warning("no digest: SIMSID_DEFAULT_CHANNEL is not set")
            return
        self._scheduler.add_job(
            self.run_digest,
            cron_trigger(self.settings.simsid_digest_cron, self.tz),
            id=DIGEST_JOB,
            name="pending digest",
            misfire_grace_time=int(DIGEST_GRACE.total_seconds()),
            coalesce=True,
            max_instances=1,
            # The in-memory job store forgets a run missed while no process was up: the
            # first run, at start, posts it if still within the grace period (post_digest
            # decides). Not a one-off job beside this one: APScheduler removes a one-off
            # after its run, and a shutdown at that moment killed its thread.
            next_run_time=datetime.now(self.tz),
        )

    def _add_reminder_job(self) -> None:
        hours = self.settings.simsid_remind_after_hours
        if hours <= 0:
            return
        # Every 5 minutes; more often when reminders are minutes apart (the sandbox's are).
        every = min(REMINDER_INTERVAL, max(REMINDER_MIN_INTERVAL, timedelta(hours=hours) / 4))
        self._scheduler.add_job(
            self.run_reminders,
            IntervalTrigger(seconds=every.total_seconds(), timezone=self.tz),
            id=REMINDERS_JOB,
            name="pending reminders",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(every.total_seconds()),
            next_run_time=datetime.now(self.tz),
        )
