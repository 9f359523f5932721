"""Maintenance windows: a Disable with an end, after which the bot enables again, once.

Time is a clock the test moves; "processes" are threads with their own Database objects.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import BotApp, create_app
from bot.background.scheduler import Scheduler, end_windows, post_digest
from bot.sandbox.fake_slack import FakeSlack
from bot.slack import views
from bot.slack.ids import ActionId
from bot.slack.operations import Operations
from store import windows
from store.db import Database
from store.lifecycle import Action, Lifecycle
from store.models import AuditEntry, MaintenanceWindow, OutboxKind, State
from tests import harness
from tests.conftest import make_settings
from tests.factories import act, get, install, outbox_rows
from tests.faultkit import buttons, install_and_wait, wait_until
from tests.harness import ADMIN, CHANNEL, OTHER_ADMIN, QUICK_PACE, Client
from tests.test_cli import _env, run

# In the past, not later today: any real-time path that meets this clock then sees the
# same order of the two on every day the tests run.
T0 = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
LONDON = ZoneInfo("Europe/London")
WINDOW_ACTOR = f"maintenance window by <@{ADMIN}>"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _lifecycle(clock: Clock) -> Lifecycle:
    return Lifecycle(upstream=True, default_channel=CHANNEL, clock=clock)


def _disabled_until(db: Database, clock: Clock, until: datetime) -> tuple[int, Operations]:
    """An enabled installation disabled by ADMIN through the modal's path, until `until`."""
    lifecycle = _lifecycle(clock)
    inst = install(db, lifecycle, at=clock.now)
    act(db, inst, Action.APPROVE, lifecycle=lifecycle)
    operations = Operations(db=db, lifecycle=lifecycle, tz=LONDON)
    applied, _ = operations.act(
        installation_id=inst,
        version=get(db, inst).version,
        action=Action.DISABLE,
        actor=ADMIN,
        reason="maintenance",
        until=until,
    )
    assert applied
    return inst, operations


def _enables(db: Database, inst: int) -> list[str]:
    with db.read() as session:
        return list(
            session.scalars(
                select(AuditEntry.actor).where(
                    AuditEntry.installation_id == inst, AuditEntry.action == "enable"
                )
            )
        )


def _window(db: Database, inst: int) -> MaintenanceWindow:
    with db.read() as session:
        row = session.scalars(
            select(MaintenanceWindow)
            .where(MaintenanceWindow.installation_id == inst)
            .order_by(MaintenanceWindow.id.desc())  # type: ignore[union-attr]
        ).first()
        assert row is not None
        session.expunge(row)
        return row


def test_a_window_ends_once_enabling_telling_and_sending_upstream(db: Database) -> None:
    clock = Clock(T0)
    inst, operations = _disabled_until(db, clock, T0 + 2 * HOUR)
    with db.read() as session:
        assert windows.disabled_until(session, inst) == T0 + 2 * HOUR
    upstream_before = len(outbox_rows(db, inst, OutboxKind.UPSTREAM))

    clock.now = T0 + HOUR  # not yet
    assert end_windows(db, operations.lifecycle, now=clock.now) == 0
    assert get(db, inst).state is State.DISABLED

    clock.now = T0 + 2 * HOUR + timedelta(seconds=30)
    assert end_windows(db, operations.lifecycle, now=clock.now) == 1
    assert end_windows(db, operations.lifecycle, now=clock.now) == 0  # once
    assert get(db, inst).state is State.ENABLED
    assert _enables(db, inst) == [WINDOW_ACTOR]
    decisions = outbox_rows(db, inst, OutboxKind.UPSTREAM)
    assert len(decisions) == upstream_before + 1
    latest = decisions[-1].payload or {}
    assert latest["type"] == "installation.enabled"
    assert latest["actor"] == {"system": WINDOW_ACTOR}
    notices = outbox_rows(db, None, OutboxKind.NOTICE)
    assert [(n.channel, (n.payload or {})["notice"]) for n in notices] == [
        (CHANNEL, "window_ended")
    ]
    assert outbox_rows(db, inst, OutboxKind.MESSAGE)  # the message is refreshed
    assert _window(db, inst).closed_reason == "ended"
    with db.read() as session:
        assert windows.disabled_until(session, inst) is None


def test_two_processes_end_a_window_once(db: Database, db_url: str) -> None:
    clock = Clock(T0)
    inst, _ = _disabled_until(db, clock, T0 + HOUR)
    others = [Database(db_url) for _ in range(2)]
    barrier = threading.Barrier(len(others))

    def process(other: Database) -> int:
        barrier.wait()
        return end_windows(other, _lifecycle(clock), now=T0 + 2 * HOUR)

    try:
        with ThreadPoolExecutor(len(others)) as pool:
            results = list(pool.map(process, others))
    finally:
        for other in others:
            other.dispose()
    assert sorted(results) == [0, 1]
    assert _enables(db, inst).count(WINDOW_ACTOR) == 1
    assert len(outbox_rows(db, None, OutboxKind.NOTICE)) == 1


def test_a_window_does_not_undo_a_later_disable(db: Database) -> None:
    clock = Clock(T0)
    inst, operations = _disabled_until(db, clock, T0 + HOUR)
    act(db, inst, Action.ENABLE, lifecycle=operations.lifecycle, actor=OTHER_ADMIN)
    act(db, inst, Action.DISABLE, lifecycle=operations.lifecycle, actor=OTHER_ADMIN)
    with db.read() as session:
        assert windows.disabled_until(session, inst) is None  # not this window's Disable

    assert end_windows(db, operations.lifecycle, now=T0 + 2 * HOUR) == 0
    assert get(db, inst).state is State.DISABLED
    assert WINDOW_ACTOR not in _enables(db, inst)
    assert _window(db, inst).closed_reason == "changed"
    assert not outbox_rows(db, None, OutboxKind.NOTICE)


def test_a_removed_installation_is_not_enabled(db: Database) -> None:
    clock = Clock(T0)
    inst, operations = _disabled_until(db, clock, T0 + HOUR)
    act(db, inst, Action.REMOVE, lifecycle=operations.lifecycle, actor=OTHER_ADMIN)

    assert end_windows(db, operations.lifecycle, now=T0 + 2 * HOUR) == 0
    assert get(db, inst).state is State.REMOVED
    assert _window(db, inst).closed_reason == "changed"


def test_enable_now_ends_the_window_early(db: Database) -> None:
    clock = Clock(T0)
    inst, operations = _disabled_until(db, clock, T0 + HOUR)
    applied, _ = operations.act(
        installation_id=inst, version=get(db, inst).version, action=Action.ENABLE, actor=ADMIN
    )
    assert applied
    with db.read() as session:
        assert windows.disabled_until(session, inst) is None
    assert _window(db, inst).closed_reason == "changed"  # closed by the Enable itself
    # Disabled again by hand, with no end: the old window's end leaves it so.
    act(db, inst, Action.DISABLE, lifecycle=operations.lifecycle)
    assert end_windows(db, operations.lifecycle, now=T0 + 2 * HOUR) == 0
    assert get(db, inst).state is State.DISABLED
    assert WINDOW_ACTOR not in _enables(db, inst)


def test_disable_all_until_a_time_opens_a_window_per_application(db: Database) -> None:
    clock = Clock(T0)
    lifecycle = _lifecycle(clock)
    ids = [install(db, lifecycle, app=app, at=T0) for app in ("app-hw", "app-pay")]
    for inst in ids:
        act(db, inst, Action.APPROVE, lifecycle=lifecycle)
    operations = Operations(db=db, lifecycle=lifecycle, tz=LONDON)
    reply = operations.disable_all(
        site_id="s1", enabled=operations.enabled_at("s1"), actor=ADMIN, until=T0 + HOUR
    )
    assert "2" in reply.text
    assert [get(db, i).state for i in ids] == [State.DISABLED] * 2
    assert end_windows(db, lifecycle, now=T0 + HOUR) == 2
    assert [get(db, i).state for i in ids] == [State.ENABLED] * 2


def test_extend_moves_the_end(db: Database) -> None:
    clock = Clock(T0)
    inst, operations = _disabled_until(db, clock, T0 + HOUR)
    moved, reply = operations.extend(
        installation_id=inst, version=get(db, inst).version, until=T0 + 3 * HOUR, actor=ADMIN
    )
    assert moved and "stays disabled until" in reply.text
    assert end_windows(db, operations.lifecycle, now=T0 + 2 * HOUR) == 0
    assert get(db, inst).state is State.DISABLED
    assert end_windows(db, operations.lifecycle, now=T0 + 3 * HOUR) == 1
    assert get(db, inst).state is State.ENABLED
    # Once ended there is nothing to extend.
    moved, reply = operations.extend(
        installation_id=inst, version=get(db, inst).version, until=T0 + 5 * HOUR, actor=ADMIN
    )
    assert not moved and "no maintenance window" in reply.text


def test_a_window_that_ended_while_down_ends_at_start(db: Database, fake_slack: FakeSlack) -> None:
    clock = Clock(T0)
    inst, _ = _disabled_until(db, clock, T0 + HOUR)
    clock.now = T0 + 5 * HOUR  # the bot was down when the window ended
    settings = make_settings(fake_slack, db.url, simsid_default_channel=CHANNEL)
    scheduler = Scheduler(db, settings, on_work=lambda: None, clock=clock).start()
    try:
        assert wait_until(lambda: get(db, inst).state is State.ENABLED, timeout=15)
    finally:
        scheduler.shutdown()
    assert _enables(db, inst).count(WINDOW_ACTOR) == 1


def test_the_digest_lists_windows_ending_within_a_day(db: Database) -> None:
    clock = Clock(T0)
    soon, _ = _disabled_until(db, clock, T0 + 3 * HOUR)
    lifecycle = _lifecycle(clock)
    later = install(db, lifecycle, site="s2", site_name="Later School", at=T0)
    act(db, later, Action.APPROVE, lifecycle=lifecycle)
    Operations(db=db, lifecycle=lifecycle, tz=LONDON).act(
        installation_id=later,
        version=get(db, later).version,
        action=Action.DISABLE,
        actor=ADMIN,
        until=T0 + 30 * HOUR,
    )
    with db.read() as session:
        ending, total = windows.ending_between(session, T0, T0 + 24 * HOUR)
    assert ([e.installation_id for e in ending], total) == ([soon], 1)
    text = str(views.digest([], [], LONDON, T0, ending=ending, ending_total=total).blocks)
    assert "School s1" in text and "Later School" not in text
    assert "1 maintenance window ending in the next 24 hours" in text
    # Nothing pending, but a window ends within the day: the digest is posted.
    outcome = post_digest(
        db, channel=CHANNEL, cron="0 18 * * *", tz=UTC, now=T0, by="test", grace=None
    )
    assert outcome == "posted"


# -- through Slack's requests, signed as Slack sends them ----------------------------


@pytest.fixture
def timed(fake_slack: FakeSlack, sqlite_url: str) -> Iterator[tuple[BotApp, Client, Clock]]:
    clock = Clock(datetime.now(UTC))
    bot = create_app(make_settings(fake_slack, sqlite_url), clock=clock, timings=QUICK_PACE)
    try:
        with harness.in_process(bot, fake_slack) as client:
            yield bot, client, clock
    finally:
        bot.delivery.stop()
        bot.db.dispose()


def _message(fs: FakeSlack) -> dict[str, Any]:
    return fs.channel_messages(CHANNEL)[0]


def _open_disable(client: Client, fs: FakeSlack) -> dict[str, Any]:
    message = install_and_wait(client, fs)
    client.click(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"])
    assert fs.wait_for(lambda: set(buttons(_message(fs))) == {ActionId.DISABLE})
    before = len(fs.opened)
    client.click(ActionId.DISABLE, buttons(_message(fs))[ActionId.DISABLE])
    assert fs.wait_for(lambda: len(fs.opened) > before), "no modal opened"
    return fs.opened_views()[before]


def test_the_modal_refuses_a_time_in_the_past(
    timed: tuple[BotApp, Client, Clock], fake_slack: FakeSlack
) -> None:
    bot, client, clock = timed
    modal = _open_disable(client, fake_slack)
    assert any(b.get("element", {}).get("type") == "datetimepicker" for b in modal["blocks"])
    past = int((clock.now - HOUR).timestamp())
    answer = client.submit_view(modal, "maintenance", until=past)
    assert answer.json() == {
        "response_action": "errors",
        "errors": {"simsid_until": "Pick a time in the future."},
    }
    with bot.db.read() as session:
        assert session.scalars(select(MaintenanceWindow)).all() == []


def test_a_window_set_in_slack_shows_extends_and_ends(
    timed: tuple[BotApp, Client, Clock], fake_slack: FakeSlack
) -> None:
    bot, client, clock = timed
    modal = _open_disable(client, fake_slack)
    answer = client.submit_view(modal, "maintenance", until=int((clock.now + HOUR).timestamp()))
    assert answer.status == 200 and not answer.body.strip(), answer.body
    assert fake_slack.wait_for(
        lambda: (
            "Disabled until" in str(_message(fake_slack)["blocks"])
            and ActionId.EXTEND in buttons(_message(fake_slack))
        )
    ), _message(fake_slack)

    assert client.open_home().status == 200
    assert fake_slack.wait_for(
        lambda: (
            "In maintenance" in str(fake_slack.home(ADMIN))
            and "Disabled until" in str(fake_slack.home(ADMIN))
        )
    ), fake_slack.home(ADMIN)

    before = len(fake_slack.opened)
    client.click(ActionId.EXTEND, buttons(_message(fake_slack))[ActionId.EXTEND])
    assert fake_slack.wait_for(lambda: len(fake_slack.opened) > before), "no modal opened"
    extend = fake_slack.opened_views()[before]
    later = clock.now + 3 * HOUR
    answer = client.submit_view(extend, None, until=int(later.timestamp()))
    assert answer.status == 200 and not answer.body.strip(), answer.body
    with bot.db.read() as session:
        assert session.scalars(select(MaintenanceWindow.ends_at)).one() == later.replace(
            microsecond=0
        )

    clock.now = later + timedelta(minutes=1)
    scheduler = Scheduler(
        bot.db, bot.settings, on_work=bot.delivery.nudge, clock=clock, lifecycle=bot.lifecycle
    )
    assert scheduler.run_windows() == 1
    assert fake_slack.wait_for(
        lambda: (
            "Maintenance over" in str(fake_slack.channel_messages(CHANNEL))
            and "maintenance window by" in str(_message(fake_slack)["blocks"])
            and set(buttons(_message(fake_slack))) == {ActionId.DISABLE}
        )
    ), fake_slack.channel_messages(CHANNEL)


# -- the command line ---------------------------------------------------------------


def test_the_cli_refuses_a_time_in_the_past(tmp_path: Path) -> None:
    result = run(tmp_path, "disable", "app-hw", "s1", "--as", ADMIN, "--until", "2020-01-01T06:00")
    assert result.returncode == 2, result.stderr
    assert "--until" in result.stderr and "Traceback" not in result.stderr


def test_the_cli_disables_until_a_time(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    db = Database(_env(tmp_path)["DATABASE_URL"])
    try:
        inst = install(db, site="s1", urn="100001")
        act(db, inst, Action.APPROVE)
        until = (datetime.now(UTC) + 2 * HOUR).replace(microsecond=0)
        result = run(
            tmp_path,
            "disable",
            "app-hw",
            "100001",
            "--as",
            ADMIN,
            "--reason",
            "upgrade",
            "--until",
            until.isoformat(),
        )
        assert result.returncode == 0, result.stderr
        assert get(db, inst).state is State.DISABLED
        assert _window(db, inst).ends_at == until
    finally:
        db.dispose()
