"""Scheduled work: digest periods, once-only digests and reminders, at scale and in Slack.

Time is passed in explicitly (`now=`), so nothing sleeps; "processes" are threads with
their own Database objects, started together on a barrier.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from sqlalchemy import event, func, insert, literal, select

from bot.background.delivery import Delivery
from bot.background.scheduler import (
    DIGEST_JOB,
    REMINDERS_JOB,
    Scheduler,
    post_digest,
    send_reminders,
)
from bot.config import Settings
from bot.cron import cron_trigger, period_start
from bot.sandbox.fake_slack import FakeSlack
from bot.slack import views
from store import claims, messages, queries
from store.db import Database
from store.lifecycle import Action, EventType, Lifecycle
from store.lifecycle.tally import recount
from store.models import (
    Application,
    Installation,
    JobClaim,
    MessageStatus,
    OutboxItem,
    OutboxKind,
    Site,
    State,
    UTCDateTime,
)
from tests.factories import act, get, install, outbox_rows
from tests.factories import event as install_event

LONDON = ZoneInfo("Europe/London")
CRON = "0 8 * * 1-5"  # weekdays at 08:00, the default SIMSID_DIGEST_CRON
CHANNEL = "C0DIGEST"
HOUR = timedelta(hours=1)
T = TypeVar("T")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def seed(
    db: Database,
    *,
    at: datetime,
    sites: int = 1,
    app: str = "app-hw",
    posted: bool = True,
) -> list[int]:
    """Pending installations created at `at` (through the lifecycle), their messages posted."""
    lifecycle = Lifecycle(default_channel=CHANNEL, clock=Clock(at))
    ids = [install(db, lifecycle, app=app, site=f"{app}-s{n}", at=at) for n in range(sites)]
    if posted:
        with db.session() as session:
            for iid in ids:
                messages.record_posted(session, iid, channel=CHANNEL, ts=f"1795770000.{iid:06d}")
    return ids


def digest(db: Database, now: datetime, **kwargs: Any) -> str:
    return post_digest(db, channel=CHANNEL, cron=CRON, tz=LONDON, now=now, by="test", **kwargs)


def remind(db: Database, now: datetime, hours: float = 24) -> int:
    return send_reminders(db, now=now, remind_after_hours=hours, by="test")


def digests(db: Database) -> list[OutboxItem]:
    return outbox_rows(db, kind=OutboxKind.DIGEST)


def steps(db: Database, iid: int) -> list[int]:
    return [(r.payload or {})["step"] for r in outbox_rows(db, iid, OutboxKind.REMINDER)]


def run_together(jobs: list[Callable[[], T]]) -> list[T]:
    """Start every job at the same moment on its own thread; results in job order."""
    barrier = threading.Barrier(len(jobs))

    def start(job: Callable[[], T]) -> T:
        barrier.wait(timeout=10)
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return [f.result(timeout=60) for f in [pool.submit(start, job) for job in jobs]]


@pytest.fixture
def three_dbs(db_url: str) -> Iterator[list[Database]]:
    """Three Database objects (engines, pools, connections): three processes' worth."""
    made = [Database(db_url) for _ in range(3)]
    yield made
    for database in made:
        database.dispose()


# -- digest periods -----------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "start"),
    [
        (utc(2026, 3, 27, 9), utc(2026, 3, 27, 8)),  # Friday, GMT: 08:00 local is 08:00Z
        (utc(2026, 3, 28, 12), utc(2026, 3, 27, 8)),  # Saturday: still Friday's period
        (utc(2026, 3, 29, 23), utc(2026, 3, 27, 8)),  # Sunday, clocks went forward
        (utc(2026, 3, 30, 6, 59), utc(2026, 3, 27, 8)),  # Monday 07:59 BST: not yet
        (utc(2026, 3, 30, 7), utc(2026, 3, 30, 7)),  # Monday 08:00 BST is 07:00Z
        (utc(2026, 10, 23, 7, 30), utc(2026, 10, 23, 7)),  # Friday, BST
        (utc(2026, 10, 24, 12), utc(2026, 10, 23, 7)),  # Saturday
        (utc(2026, 10, 26, 7, 30), utc(2026, 10, 23, 7)),  # Monday 07:30 GMT: not yet
        (utc(2026, 10, 26, 8), utc(2026, 10, 26, 8)),  # Monday 08:00 GMT is 08:00Z
    ],
)
def test_period_start_is_the_latest_weekday_0800_in_london(now: datetime, start: datetime) -> None:
    period = period_start(now, CRON, LONDON)
    assert period == start
    assert period is not None and period.tzinfo is UTC
    local = period.astimezone(LONDON)
    assert (local.hour, local.minute, local.weekday() < 5) == (8, 0, True)


def _next_weekday_0800(after: datetime) -> datetime:
    """The first weekday 08:00 London after `after`, worked out without APScheduler."""
    day = after.astimezone(LONDON).date()
    while True:
        day += timedelta(days=1)
        if day.weekday() < 5:
            return datetime(day.year, day.month, day.day, 8, tzinfo=LONDON).astimezone(UTC)


@settings(max_examples=150, deadline=None)
@given(st.datetimes(min_value=datetime(2026, 1, 5), max_value=datetime(2027, 12, 31)))
def test_period_start_contains_now_for_any_moment(naive: datetime) -> None:
    now = naive.replace(tzinfo=UTC)
    period = period_start(now, CRON, LONDON)
    assert period is not None
    local = period.astimezone(LONDON)
    assert (local.hour, local.minute, local.second, local.weekday() < 5) == (8, 0, 0, True)
    assert period <= now < _next_weekday_0800(period)


def test_cron_day_numbers_are_crontabs_sunday_first() -> None:
    # APScheduler 3's own from_crontab would read "1-5" as Tuesday to Saturday.
    assert "day_of_week='mon,tue,wed,thu,fri'" in str(cron_trigger(CRON, LONDON))
    sunday = utc(2026, 11, 29, 12)
    for cron in ("0 8 * * 0", "0 8 * * 7", "0 8 * * sun"):
        assert period_start(sunday, cron, LONDON) == utc(2026, 11, 29, 8)
    assert period_start(sunday, "0 8 * * 5-7", LONDON) == utc(2026, 11, 29, 8)
    assert period_start(sunday, "0 8 29 2 *", LONDON) == utc(2024, 2, 29, 8)
    for bad in ("0 8 * * 8", "0 8 * * 5-1", "0 8 * *", "0 8 * * x"):
        with pytest.raises(ValueError):
            cron_trigger(bad, LONDON)


# -- the digest, once per period ------------------------------------------------

FRIDAY_0800 = utc(2026, 11, 27, 8)  # November: GMT, so 08:00 London is 08:00Z


def test_digest_is_queued_once_per_period(db: Database) -> None:
    seed(db, at=FRIDAY_0800 - 20 * HOUR)
    outcomes = [digest(db, FRIDAY_0800 + timedelta(seconds=s)) for s in (1, 30, 600)]
    assert outcomes == ["posted", "already", "already"]
    [item] = digests(db)
    assert item.channel == CHANNEL
    assert item.payload == {"period": "2026-11-27T08:00:00+00:00"}
    # The next period is another digest.
    assert digest(db, FRIDAY_0800 + 72 * HOUR) == "posted"
    assert len(digests(db)) == 2


def test_three_processes_at_the_same_moment_queue_one_digest(
    three_dbs: list[Database],
) -> None:
    seed(three_dbs[0], at=FRIDAY_0800 - HOUR)
    now = FRIDAY_0800 + timedelta(seconds=1)
    outcomes = run_together([lambda d=d: digest(d, now) for d in three_dbs])  # type: ignore[misc]
    assert sorted(outcomes) == ["already", "already", "posted"]
    assert len(digests(three_dbs[0])) == 1


def test_force_posts_again_and_counts_as_the_periods_digest(db: Database) -> None:
    seed(db, at=FRIDAY_0800 - HOUR)
    assert digest(db, FRIDAY_0800 + HOUR) == "posted"
    assert digest(db, FRIDAY_0800 + 2 * HOUR, force=True) == "posted"
    assert len(digests(db)) == 2
    monday = FRIDAY_0800 + 72 * HOUR
    assert digest(db, monday - HOUR, force=True) == "posted"  # still Friday's period
    # A forced digest in a period not yet posted counts as that period's digest.
    assert digest(db, monday + 12 * HOUR, force=True) == "posted"
    assert digest(db, monday + 12 * HOUR) == "outside grace"
    assert digest(db, monday + 13 * HOUR, grace=None) == "already"
    assert len(digests(db)) == 4


def test_a_missed_run_is_posted_once_within_grace_and_skipped_after(db: Database) -> None:
    seed(db, at=FRIDAY_0800 - 48 * HOUR)
    thursday = FRIDAY_0800 - 24 * HOUR
    # Down at 08:00 Thursday, back at 10:01: too late, the run is skipped.
    assert digest(db, thursday + 2 * HOUR + timedelta(minutes=1)) == "outside grace"
    assert digests(db) == []
    # Down at 08:00 Friday, back at 09:45: posted once.
    assert digest(db, FRIDAY_0800 + timedelta(minutes=105)) == "posted"
    assert digest(db, FRIDAY_0800 + timedelta(minutes=110)) == "already"
    [item] = digests(db)
    assert item.payload == {"period": "2026-11-27T08:00:00+00:00"}
    # `simsid-bot digest` can ask for no grace limit: once per period still holds.
    assert digest(db, thursday + 7 * HOUR, grace=None) == "posted"
    assert digest(db, thursday + 8 * HOUR, grace=None) == "already"


def test_nothing_pending_posts_nothing_and_claims_nothing(db: Database) -> None:
    assert digest(db, FRIDAY_0800) == "nothing pending"
    assert digest(db, FRIDAY_0800, force=True) == "nothing pending"
    [iid] = seed(db, at=FRIDAY_0800 - 5 * HOUR)
    act(db, iid, Action.APPROVE)
    assert digest(db, FRIDAY_0800 + timedelta(minutes=1)) == "nothing pending"
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(JobClaim)) == 0
    # Something arrives later in the same period: a later run (a catch-up) still posts.
    seed(db, at=FRIDAY_0800 + HOUR, app="app-other")
    assert digest(db, FRIDAY_0800 + timedelta(minutes=90)) == "posted"
    assert len(digests(db)) == 1


def test_three_schedulers_over_five_periods_post_one_digest_each(
    three_dbs: list[Database],
) -> None:
    seed(three_dbs[0], at=FRIDAY_0800 - 100 * HOUR, sites=3)
    monday = utc(2026, 11, 30, 8)
    periods = [monday + timedelta(days=d) for d in range(5)]
    for period in periods:
        now = period + timedelta(seconds=2)
        outcomes = run_together([lambda d=d: digest(d, now) for d in three_dbs])  # type: ignore[misc]
        assert sorted(outcomes) == ["already", "already", "posted"], period
    posted = [(item.payload or {})["period"] for item in digests(three_dbs[0])]
    assert sorted(posted) == [p.isoformat() for p in periods]


# -- reminders ------------------------------------------------------------------

MONDAY_0900 = utc(2026, 11, 2, 9)


def test_reminders_come_at_doubling_intervals_until_approved(db: Database) -> None:
    [iid] = seed(db, at=MONDAY_0900)
    [silent] = seed(db, at=MONDAY_0900, app="app-unposted", posted=False)
    timeline = [
        (24 * HOUR - timedelta(seconds=1), 0, []),
        (24 * HOUR, 1, [0]),
        (24 * HOUR + timedelta(minutes=5), 0, [0]),
        (30 * HOUR, 0, [0]),
        (48 * HOUR, 1, [0, 1]),
        (95 * HOUR, 0, [0, 1]),
        (96 * HOUR, 1, [0, 1, 2]),
        (96 * HOUR, 0, [0, 1, 2]),
    ]
    for after, queued, expected in timeline:
        assert remind(db, MONDAY_0900 + after) == queued, after
        assert steps(db, iid) == expected, after
    assert get(db, iid).reminders_sent == 3
    act(db, iid, Action.APPROVE)
    assert remind(db, MONDAY_0900 + 192 * HOUR) == 0
    assert steps(db, iid) == [0, 1, 2]
    assert steps(db, silent) == []  # no message to reply under


def test_a_scheduler_that_was_down_sends_one_reminder_not_a_burst(db: Database) -> None:
    [iid] = seed(db, at=MONDAY_0900)
    assert remind(db, MONDAY_0900 + 100 * HOUR) == 1
    assert remind(db, MONDAY_0900 + 101 * HOUR) == 0
    assert steps(db, iid) == [2]
    assert remind(db, MONDAY_0900 + 192 * HOUR) == 1
    assert steps(db, iid) == [2, 3]


def test_a_new_pending_cycle_starts_its_reminders_again(db: Database) -> None:
    [iid] = seed(db, at=MONDAY_0900)
    assert remind(db, MONDAY_0900 + 24 * HOUR) == 1
    again = MONDAY_0900 + 30 * HOUR
    lifecycle = Lifecycle(default_channel=CHANNEL, clock=Clock(again))
    with db.session() as session:
        gone = install_event("app-hw", "app-hw-s0", EventType.REMOVED, at=again - HOUR)
        lifecycle.apply_event(session, gone)
        lifecycle.apply_event(session, install_event("app-hw", "app-hw-s0", at=again))
        messages.record_posted(session, iid, channel=CHANNEL, ts="1795770001.000001")
    assert get(db, iid).reminders_sent == 0
    assert remind(db, again + 23 * HOUR) == 0
    assert remind(db, again + 24 * HOUR) == 1
    assert steps(db, iid) == [0, 0]


def test_zero_hours_turns_reminders_off(db: Database) -> None:
    [iid] = seed(db, at=MONDAY_0900)
    assert remind(db, MONDAY_0900 + 500 * HOUR, hours=0) == 0
    assert steps(db, iid) == []


def test_a_step_lost_to_a_concurrent_approval_is_not_counted(db: Database) -> None:
    [iid] = seed(db, at=MONDAY_0900)
    now = MONDAY_0900 + 24 * HOUR
    with db.read() as session:
        due = claims.due_reminders(session, now=now, first_after=24 * HOUR)
    assert due == [(iid, 0)]
    act(db, iid, Action.APPROVE)  # between the read and the claim
    with db.session() as session:
        assert not claims.record_reminder(session, iid, 0, now=now, by="test")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(JobClaim)) == 0
    assert steps(db, iid) == []


def test_three_processes_reminding_at_once_send_each_step_once(
    three_dbs: list[Database],
) -> None:
    ids = seed(three_dbs[0], at=MONDAY_0900, sites=6)
    for after, expected in ((24 * HOUR, [0]), (48 * HOUR, [0, 1])):
        now = MONDAY_0900 + after
        counts = run_together([lambda d=d: remind(d, now) for d in three_dbs])  # type: ignore[misc]
        assert sum(counts) == len(ids)
        assert all(steps(three_dbs[0], iid) == expected for iid in ids)


# -- through Slack (the local stand-in) ------------------------------------------


def deliver_all(db: Database, delivery: Delivery, clock: Clock) -> None:
    """Drain, letting the clock move on as per-channel pacing asks, until nothing is left."""
    for _ in range(60):
        delivery.drain()
        with db.read() as session:
            left = session.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.done_at.is_(None))  # type: ignore[union-attr]
            )
        if not left:
            return
        clock.now += timedelta(seconds=1)
    raise AssertionError("the outbox did not drain")


def test_digest_and_reminders_reach_slack_once(db: Database) -> None:
    start = FRIDAY_0800 - 23 * HOUR  # Thursday 09:00
    clock = Clock(start)
    lifecycle = Lifecycle(default_channel=CHANNEL, clock=clock)
    ids = [
        install(db, lifecycle, app="app-hw", site="oak", site_name="Oakfield Primary"),
        install(db, lifecycle, app="app-hw", site="elm", site_name="Elm Academy"),
        install(db, lifecycle, app="app-mis", site="oak", site_name="Oakfield Primary"),
    ]
    with FakeSlack() as fs:
        client = WebClient(token="xoxb-test", base_url=fs.api_url)
        delivery = Delivery(db=db, client=client, tz=LONDON, default_channel=CHANNEL, clock=clock)
        deliver_all(db, delivery, clock)
        assert len(fs.channel_messages(CHANNEL)) == 3
        threads = {iid: get(db, iid).message_ts for iid in ids}
        assert all(threads.values())

        clock.now = FRIDAY_0800 + timedelta(seconds=3)
        assert [digest(db, clock.now) for _ in range(3)] == ["posted", "already", "already"]
        deliver_all(db, delivery, clock)
        posts = fs.channel_messages(CHANNEL)
        [summary] = [m for m in posts if m["text"] == "3 installations waiting for approval"]
        body = str(summary["blocks"])
        assert "App app-hw*: 2 waiting" in body and "App app-mis*: 1 waiting" in body

        clock.now = start + 24 * HOUR
        assert remind(db, clock.now) == 3
        assert remind(db, clock.now) == 0
        deliver_all(db, delivery, clock)
        for ts in threads.values():
            assert ts is not None
            [reply] = fs.thread_replies(CHANNEL, ts)
            assert reply["text"].startswith("Still waiting for approval after 1 day")
        assert len(fs.channel_messages(CHANNEL)) == 4  # replies stay in their threads
        assert len(fs.all_posts()) == 7


def test_the_scheduler_catches_up_a_missed_digest_and_reminds(sqlite_db: Database) -> None:
    [iid] = seed(sqlite_db, at=FRIDAY_0800 - 48 * HOUR)
    config = Settings(
        _env_file=None,  # type: ignore[call-arg]
        simsid_default_channel=CHANNEL,
        simsid_digest_cron=CRON,
        simsid_timezone="Europe/London",
        simsid_remind_after_hours=24,
    )
    work = threading.Semaphore(0)
    scheduler = Scheduler(sqlite_db, config, on_work=work.release, clock=Clock(FRIDAY_0800 + HOUR))
    scheduler.start()
    try:
        assert {DIGEST_JOB, REMINDERS_JOB} <= set(scheduler.job_ids())
        # The catch-up digest and the first reminders run both queue work at start.
        assert work.acquire(timeout=20) and work.acquire(timeout=20)
        trigger = str(scheduler._scheduler.get_job(DIGEST_JOB).trigger)
        assert "day_of_week='mon,tue,wed,thu,fri'" in trigger
    finally:
        scheduler.shutdown()
    assert len(digests(sqlite_db)) == 1
    assert steps(sqlite_db, iid) == [1]


def test_the_scheduler_has_no_reminders_job_at_zero_hours(sqlite_db: Database) -> None:
    config = Settings(
        _env_file=None,  # type: ignore[call-arg]
        simsid_default_channel=CHANNEL,
        simsid_remind_after_hours=0,
    )
    scheduler = Scheduler(sqlite_db, config, on_work=lambda: None).start()
    try:
        assert REMINDERS_JOB not in scheduler.job_ids()
        assert DIGEST_JOB in scheduler.job_ids()
    finally:
        scheduler.shutdown()


def test_a_scheduler_stopped_as_it_starts_raises_nothing_in_its_thread(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGTERM right after a worker starts the scheduler (a deploy after a deploy):
    APScheduler's thread must not die on a job the shutdown took away from it, as it
    did on the one-off catch-up digest (JobLookupError, in about 1 start of 10)."""
    died: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(repr(args.exc_value)))
    config = Settings(
        _env_file=None,  # type: ignore[call-arg]
        simsid_default_channel=CHANNEL,
        simsid_remind_after_hours=0,
    )
    for _ in range(100):
        Scheduler(sqlite_db, config, on_work=lambda: None).start().shutdown()
    assert died == []


# -- at scale -----------------------------------------------------------------------

APPS = 10
SITES = 20_000


def _numbers(name: str, count: int) -> Any:
    """A CTE of the integers 0 .. count-1, so rows are made in SQL, not in Python."""
    seq = select(literal(0).label("n")).cte(name, recursive=True)
    return seq.union_all(select(seq.c.n + 1).where(seq.c.n < count - 1))


def _bulk_seed(db: Database, now: datetime) -> None:
    """200,000 pending, posted installations (20,000 sites x 10 apps), inserted by SQLite
    itself with INSERT ... SELECT: the lifecycle is not under test here, and row-by-row
    inserts would take most of a minute. Site s of app a was created s + a minutes ago."""
    table = Installation.__table__  # type: ignore[attr-defined]
    long_name = "Homework & <Revision> Hub " * 8
    apps = [
        {"id": f"app-{a}", "name": f"{long_name}{a}", "slug": f"app-{a}", "channel": None}
        | {"bypass_auth": False, "sims_primary": False, "created_at": now}
        for a in range(APPS)
    ]
    site_n, app_n = _numbers("site_n", SITES), _numbers("app_n", APPS)
    site_id = func.printf("site-%05d", site_n.c.n)
    stamp = literal(now, UTCDateTime())
    # Per-row times in the text form SQLAlchemy stores on SQLite.
    created = func.strftime(
        "%Y-%m-%d %H:%M:%f000", stamp, func.printf("-%d minutes", site_n.c.n + app_n.c.n)
    )
    rows = select(
        func.printf("app-%d", app_n.c.n),
        site_id,
        literal(State.PENDING, table.c.state.type),
        literal(1),
        created,
        stamp,
        literal(MessageStatus.POSTED, table.c.message_status.type),
        literal(CHANNEL),
        func.printf("%d.%06d", site_n.c.n, app_n.c.n),
        literal(1),
    ).select_from(site_n.join(app_n, literal(True)))
    columns = ["application_id", "site_id", "state", "version", "created_at", "changed_at"]
    columns += ["message_status", "message_channel", "message_ts", "reminders_sent"]
    with db.session() as session:
        conn = session.connection()
        conn.exec_driver_sql("PRAGMA cache_size=-262144")  # index pages stay in memory
        conn.execute(insert(Application.__table__), apps)  # type: ignore[attr-defined]
        conn.execute(
            insert(Site.__table__).from_select(  # type: ignore[attr-defined]
                ["id", "name", "updated_at"],
                select(site_id, func.printf("School %d", site_n.c.n), stamp),
            )
        )
        conn.execute(insert(table).from_select(columns, rows))
        # Rows written beside the lifecycle: its installation counts are rebuilt from them.
        recount(session)


class Statements:
    """Counts the SQL statements an engine sends while active."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine
        self.sent: list[tuple[str, Any]] = []

    def _record(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self.sent.append((statement, params))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc_info: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


def test_digest_and_reminders_stay_bounded_at_200000_pending(sqlite_db: Database) -> None:
    now = FRIDAY_0800
    _bulk_seed(sqlite_db, now)

    with Statements(sqlite_db) as sql, sqlite_db.read() as session:
        counts = queries.pending_counts(session)
        oldest = list(queries.pending(session, limit=5).items)
    message = views.digest(counts, oldest, LONDON, now)
    assert len(sql.sent) <= 4
    assert sum(c.count for c in counts) == APPS * SITES
    assert len(counts) == APPS and len(oldest) == 5
    blocks = message.to_dict()["blocks"]
    assert len(blocks) <= 50
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert texts and all(len(t) <= 3000 for t in texts)
    assert "<Revision>" not in str(blocks)  # names from SIMS ID are escaped

    with Statements(sqlite_db) as sql, sqlite_db.read() as session:
        due = claims.due_reminders(session, now=now, first_after=24 * HOUR)
    assert len(due) == 500 and all(step >= 1 for _, step in due)
    assert len(sql.sent) <= 3
    statement, params = sql.sent[-1]
    with sqlite_db.engine.connect() as conn:
        plan = " ".join(
            str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
        )
    assert "ix_installation_remind" in plan, plan

    assert digest(sqlite_db, now) == "posted"
