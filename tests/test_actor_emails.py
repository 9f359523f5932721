"""Decisions named in SIMS ID's terms: the decider's email, upstream and in the audit log.

In process (Slack's requests signed and dispatched to Bolt, SIMS ID's to the WSGI app), on
SQLite and PostgreSQL: the bot talks to FakeSlack, whose users.info
answers `user.profile.email` while `users:read.email` is granted, and the Receiver of
tests/test_upstream.py stands in for SIMSID_UPSTREAM_URL. The clock is moved, never slept.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from bot.app import BotApp, create_app
from bot.background.scheduler import Scheduler
from bot.config import Settings
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from store import user_emails
from store.db import Database
from store.lifecycle import Action
from store.models import AuditEntry, UserEmail
from tests.conftest import make_settings
from tests.factories import act, install
from tests.faultkit import wait_until
from tests.harness import ADMIN, CHANNEL, Client, in_process
from tests.test_upstream import (
    FAST,
    UPSTREAM_SECRET,
    WAIT,
    Receiver,
    _click,
    _install,
)

EMAIL = "amina.patel@vendor.example"


class Clock:
    """The bot's clock: real time plus an offset a test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _bot(fake: FakeSlack, url: str, receiver: Receiver, clock: Clock) -> BotApp:
    settings = make_settings(
        fake, url, simsid_upstream_url=receiver.url, simsid_upstream_secret=UPSTREAM_SECRET
    )
    return create_app(settings, clock=clock, timings=FAST)


@pytest.fixture
def dispatched(
    fake_slack: FakeSlack, db_url: str, receiver: Receiver, clock: Clock
) -> Iterator[tuple[BotApp, Client]]:
    fake_slack.emails[ADMIN] = EMAIL
    bot = _bot(fake_slack, db_url, receiver, clock)
    try:
        with in_process(bot, fake_slack) as client:
            yield bot, client
    finally:
        bot.delivery.stop()
        bot.db.dispose()


def _lookups(fake: FakeSlack, user: str = ADMIN) -> int:
    with fake.lock:
        return sum(
            1 for method, p in fake.calls if method == "users.info" and p.get("user") == user
        )


def _latest(receiver: Receiver, type_: str) -> dict[str, Any]:
    """The newest decision stored, once it is of `type_` (delivery is at least once: a
    decision may arrive twice, so counting bodies would not say which is which)."""
    assert receiver.wait_for(lambda: bool(receiver.stored) and receiver.stored[-1]["type"] == type_)
    with receiver.cond:
        return receiver.stored[-1]


def _audit_emails(bot: BotApp, installation_id: int) -> list[tuple[str, str | None]]:
    with bot.db.read() as session:
        rows = session.execute(
            select(col(AuditEntry.action), col(AuditEntry.actor_email))
            .where(col(AuditEntry.installation_id) == installation_id)
            .order_by(col(AuditEntry.id))
        ).all()
    return [(action, email) for action, email in rows]


def test_decisions_carry_the_deciders_email_asked_once_a_day(
    dispatched: tuple[BotApp, Client], fake_slack: FakeSlack, receiver: Receiver, clock: Clock
) -> None:
    bot, client = dispatched
    oak = _install(client, bot, fake_slack, event_id="evt_oak")
    _click(client, fake_slack, oak, ActionId.APPROVE)
    approved = _latest(receiver, "installation.enabled")
    assert approved["actor"] == {"slack_user": ADMIN}
    assert approved["actor_email"] == EMAIL
    assert _lookups(fake_slack) == 1
    assert ("approve", EMAIL) in _audit_emails(bot, oak.id)
    audit = json.dumps(client.slash("audit homework oakfield").json()["blocks"], ensure_ascii=False)
    assert f"<@{ADMIN}> ({EMAIL}) \u00b7 *approve*" in audit

    # The same admin again: the email comes from the cache, written with the decision.
    _click(client, fake_slack, oak, ActionId.DISABLE)
    assert _latest(receiver, "installation.disabled")["actor_email"] == EMAIL
    assert _lookups(fake_slack) == 1
    assert _audit_emails(bot, oak.id)[-1] == ("disable", EMAIL)

    # A day later Slack is asked again, and a changed email is what goes out.
    fake_slack.emails[ADMIN] = "amina.khan@vendor.example"
    clock.offset = timedelta(days=1, minutes=1)
    _click(client, fake_slack, oak, ActionId.ENABLE)
    assert _latest(receiver, "installation.enabled")["actor_email"] == "amina.khan@vendor.example"
    assert _lookups(fake_slack) == 2
    assert _audit_emails(bot, oak.id)[-1] == ("enable", "amina.khan@vendor.example")
    with bot.db.read() as session:
        assert session.get(UserEmail, ADMIN) is not None


def test_system_decisions_have_no_email_and_ask_nothing(
    dispatched: tuple[BotApp, Client], fake_slack: FakeSlack, receiver: Receiver
) -> None:
    bot, client = dispatched
    oak = _install(client, bot, fake_slack, event_id="evt_oak")
    _click(client, fake_slack, oak, ActionId.APPROVE)
    _latest(receiver, "installation.enabled")
    later = datetime.now(UTC) + timedelta(seconds=1)
    gone = client.install(event_id="evt_gone", type_="installation.removed", occurred_at=later)
    assert gone.status == 202
    removed = _latest(receiver, "installation.removed")
    assert removed["actor"] == {"system": "sims-id"}
    assert "actor_email" in removed and removed["actor_email"] is None
    assert _lookups(fake_slack) == 1  # the admin's approval only


def test_without_the_scope_the_email_is_null_and_said_once(
    fake_slack: FakeSlack,
    db_url: str,
    receiver: Receiver,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_slack.scopes.discard("users:read.email")
    bot = _bot(fake_slack, db_url, receiver, clock)
    with caplog.at_level(logging.WARNING), in_process(bot, fake_slack) as client:
        oak = _install(client, bot, fake_slack, event_id="evt_oak")
        _click(client, fake_slack, oak, ActionId.APPROVE)
        _click(client, fake_slack, oak, ActionId.DISABLE)
        _latest(receiver, "installation.disabled")
    bot.delivery.stop()
    with receiver.cond:
        assert {b["actor_email"] for b in receiver.stored} == {None}
    assert [a for a in _audit_emails(bot, oak.id) if a[1] is not None] == []
    told = [r for r in caplog.records if "users:read.email" in r.getMessage()]
    assert len(told) == 1, [r.getMessage() for r in told]
    assert _lookups(fake_slack) <= 1  # at most one before the start's check said so
    bot.db.dispose()


def test_a_refused_or_failing_users_info_never_holds_a_decision_back(
    dispatched: tuple[BotApp, Client], fake_slack: FakeSlack, receiver: Receiver
) -> None:
    bot, client = dispatched
    oak = _install(client, bot, fake_slack, event_id="evt_oak")
    fake_slack.fail_next(2, status=500, method="users.info")  # the client retries once
    _click(client, fake_slack, oak, ActionId.APPROVE)
    assert _latest(receiver, "installation.enabled")["actor_email"] is None
    with bot.db.read() as session:
        assert session.get(UserEmail, ADMIN) is None  # a failure is not remembered

    fake_slack.refuse_emails = True
    elm = _install(client, bot, fake_slack, event_id="evt_elm", site_id="site-elm")
    _click(client, fake_slack, elm, ActionId.APPROVE)
    sites = {"site-oak", "site-elm"}
    assert receiver.wait_for(lambda: {b["site"]["id"] for b in receiver.stored} == sites)
    assert [b["actor_email"] for b in receiver.stored] == [None] * len(receiver.stored)
    assert _lookups(fake_slack) == 3  # two failed tries, then the refusal


def test_without_upstream_the_audit_row_still_learns_the_email(
    fake_slack: FakeSlack, db_url: str, clock: Clock
) -> None:
    fake_slack.emails[ADMIN] = EMAIL
    bot = create_app(make_settings(fake_slack, db_url), clock=clock, timings=FAST)
    try:
        with in_process(bot, fake_slack) as client:
            oak = _install(client, bot, fake_slack, event_id="evt_oak")
            _click(client, fake_slack, oak, ActionId.APPROVE)
            learnt = lambda: ("approve", EMAIL) in _audit_emails(bot, oak.id)  # noqa: E731
            assert wait_until(learnt, WAIT, interval=0.02), _audit_emails(bot, oak.id)
            _click(client, fake_slack, oak, ActionId.DISABLE)  # known now: written at once
            assert _audit_emails(bot, oak.id)[-1] == ("disable", EMAIL)
            assert _lookups(fake_slack) == 1
    finally:
        bot.delivery.stop()
        bot.db.dispose()


def test_cached_emails_older_than_the_retention_are_pruned(db: Database) -> None:
    """Personal data: an admin who stopped deciding is not remembered past
    SIMSID_RETENTION_DAYS (the audit rows keep their own copy, as the audit log is kept)."""
    now = datetime.now(UTC)
    with db.session() as session:
        for user, age in (("UOLD", 91), ("URECENT", 89)):
            user_emails.remember(session, user, f"{user}@x.example", now=now - timedelta(days=age))
    config = Settings(_env_file=None, simsid_default_channel=CHANNEL)  # type: ignore[call-arg]
    assert config.simsid_retention_days == 90
    scheduler = Scheduler(db, config, on_work=lambda: None, clock=lambda: now)
    assert scheduler.run_prune().emails == 1
    with db.read() as session:
        assert set(session.scalars(select(col(UserEmail.user_id)))) == {"URECENT"}


def test_stopping_lets_the_email_lookups_asked_for_finish(
    fake_slack: FakeSlack, db_url: str, clock: Clock
) -> None:
    """Shutting down waits for the decider's email being asked of Slack: the database is
    closed next, and a lookup cut short would leave its audit rows without the email and
    its connection open."""
    fake_slack.emails[ADMIN] = EMAIL
    bot = create_app(make_settings(fake_slack, db_url), clock=clock, timings=FAST)
    try:
        oak = install(bot.db, bot.lifecycle)
        act(bot.db, oak, Action.APPROVE, actor=ADMIN)
        fake_slack.delay = 0.5  # a slow users.info
        bot.delivery.decided(ADMIN)
        bot.delivery.stop()
        assert _audit_emails(bot, oak)[-1] == ("approve", EMAIL)
    finally:
        bot.db.dispose()
