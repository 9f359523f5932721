"""The database misbehaving under a running bot: SQLite locked, PostgreSQL stopped.

What each surface must do while the database cannot take writes:

- the install webhook answers 503 (SIMS ID sends the event again later), storing nothing;
- a slash command or a button is acked within Slack's 3 seconds and the person gets a
  clear private message, never a stack trace or Slack's `operation_timeout`;
- `/healthz` answers 503 when the database does not answer at all. On SQLite a writer's
  lock does not stop readers (WAL), and the health check only reads, so it stays 200
  while another connection holds the write lock: the database *answers*, and the
  writes that wait are answered 503 one by one (decision recorded in RELIABILITY.md);
- once the database is back, the same process works again without a restart.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import BotApp
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from store.db import SQLITE_BUSY_TIMEOUT_MS
from store.models import Installation, ProcessedEvent, State
from tests import faultkit, harness
from tests.conftest import TEST_KEY
from tests.faultkit import client_for, response_texts
from tests.harness import (
    CHANNEL,
    Client,
    ServerProcess,
    buttons,
    event_body,
    install_and_wait,
    wait_until,
)
from tests.pgtools import PrivateCluster, private_cluster

# Longer than SQLite's busy timeout, so every writer that queues behind it gives up.
LOCK_SECONDS = SQLITE_BUSY_TIMEOUT_MS / 1000 + 1.5
# Slack shows operation_timeout when the HTTP answer takes longer than this.
SLACK_ACK_LIMIT = 3.0
UNAVAILABLE = "database is not answering"


class ExclusiveLock:
    """Another process's connection holding SQLite's write lock (BEGIN EXCLUSIVE)."""

    def __init__(self, path: Path, seconds: float) -> None:
        self._path = path
        self._seconds = seconds
        self.acquired = threading.Event()
        self.released = threading.Event()
        self._thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=10)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            self.acquired.set()
            time.sleep(self._seconds)
            conn.execute("ROLLBACK")
        finally:
            conn.close()
            self.released.set()

    def __enter__(self) -> ExclusiveLock:
        self._thread.start()
        assert self.acquired.wait(10), "could not take the lock"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.released.wait(self._seconds + 10)


def _timed(call: Callable[[], harness.Response]) -> tuple[harness.Response, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def _count(bot: BotApp, model: type) -> int:
    with bot.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _state(bot: BotApp, site_id: str) -> State:
    with bot.db.read() as session:
        return session.scalars(
            select(Installation.state).where(Installation.site_id == site_id)
        ).one()


def _secret_in(text: str) -> str | None:
    found = re.search(r"`([A-Za-z0-9_-]{43})`", text)
    return found[1] if found else None


def test_sqlite_locked_longer_than_busy_timeout(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    """Writers get 503 / a clear private message within Slack's limit; readers and the
    health check keep working; everything works again when the lock goes, no restart."""
    message = install_and_wait(dispatched, fake_slack)
    dispatched.click(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"])
    assert fake_slack.wait_for(
        lambda: set(buttons(fake_slack.channel_messages(CHANNEL)[0])) == {ActionId.DISABLE}
    )
    disable = buttons(fake_slack.channel_messages(CHANNEL)[0])[ActionId.DISABLE]
    events_before = _count(bot, ProcessedEvent)
    locked_event = event_body(event_id="evt_while_locked", site_id="site-locked", site_name="L")
    path = Path(bot.db.url.removeprefix("sqlite:///"))

    # The Disable form opens before the lock: submitting it is the write that must wait.
    dispatched.click(ActionId.DISABLE, disable, message_ts=message["ts"])
    assert fake_slack.wait_for(lambda: len(fake_slack.opened) == 1)
    [form] = fake_slack.opened_views()

    with ExclusiveLock(path, LOCK_SECONDS), ThreadPoolExecutor(max_workers=5) as pool:
        webhook = pool.submit(_timed, lambda: dispatched.send_event(locked_event))
        secret = pool.submit(
            _timed,
            lambda: dispatched.slash("secret app-homework site-oak", response_name="locked-secret"),
        )
        click = pool.submit(_timed, lambda: dispatched.submit_view(form, "maintenance"))
        pending = pool.submit(_timed, lambda: dispatched.slash("pending"))
        health = pool.submit(_timed, dispatched.health)

        # The webhook waited the busy timeout, then said "later" and stored nothing.
        answer, _ = webhook.result()
        assert answer.status == 503, answer
        assert "send again later" in answer.json()["error"]

        # The slash command that must write (the audit row of a secret view) was acked in
        # time with a private "working on it", then answered privately, no stack trace.
        answer, took = secret.result()
        assert answer.status == 200 and took < SLACK_ACK_LIMIT, (answer, took)
        assert answer.json()["response_type"] == "ephemeral"
        assert _secret_in(answer.body.decode()) is None
        assert fake_slack.wait_for(
            lambda: any(UNAVAILABLE in t for t in response_texts(fake_slack, "locked-secret")),
            timeout=LOCK_SECONDS + 5,
        )
        replies = " ".join(response_texts(fake_slack, "locked-secret"))
        assert "Traceback" not in replies and "error id" not in replies
        assert _secret_in(replies) is None

        # A submitted form is answered in time ("working on it" in the form), then the
        # form says the database is not answering.
        answer, took = click.result()
        assert answer.status == 200 and took < SLACK_ACK_LIMIT, (answer, took)
        assert answer.json()["response_action"] == "update"
        assert fake_slack.wait_for(
            lambda: UNAVAILABLE in json.dumps(fake_slack.opened_views()[0]),
            timeout=LOCK_SECONDS + 5,
        )

        # Reads do not wait for a writer in WAL mode: listings and health keep answering.
        answer, took = pending.result()
        assert answer.status == 200 and took < SLACK_ACK_LIMIT
        assert "Nothing is waiting" in answer.body.decode()
        answer, took = health.result()
        assert answer.status == 200 and took < SLACK_ACK_LIMIT, answer

    assert _count(bot, ProcessedEvent) == events_before
    assert _state(bot, "site-oak") is State.ENABLED  # the click changed nothing

    # The lock is gone: the same app, no restart, takes every kind of write again.
    again = dispatched.send_event(locked_event)  # SIMS ID's retry of the refused event
    assert (again.status, again.json()) == (202, {"status": "accepted"})
    assert fake_slack.wait_for(lambda: len(fake_slack.channel_messages(CHANNEL)) == 2)
    assert _secret_in(dispatched.private_reply(fake_slack, "secret app-homework site-oak"))
    dispatched.decide(fake_slack, ActionId.DISABLE, disable, message_ts=message["ts"])
    assert wait_until(lambda: _state(bot, "site-oak") is State.DISABLED, timeout=10)
    assert dispatched.health().status == 200


def test_a_disable_click_asks_why_while_a_writer_holds_sqlite(bot: BotApp) -> None:
    """Before the form asking why, a click only reads: it must not queue for SQLite's
    write lock behind a burst of installs, for the form's trigger_id expires 3 s after
    the click (it waited the whole busy timeout, then said the database was down)."""
    from store import queries
    from store.lifecycle import Action
    from tests.factories import install

    install(bot.db, site="site-busy")
    with bot.db.read() as session:
        (info,) = queries.pending(session).items
    holder = sqlite3.connect(bot.db.url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        found, refused = bot.operations.check(
            installation_id=info.id, version=info.version, action=Action.DISABLE
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert refused is None and found is not None and found.id == info.id


# -- PostgreSQL stopped and started under a running `serve` ------------------------------


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[PrivateCluster]:
    """A private cluster: this module stops and starts it (never the shared one)."""
    with private_cluster(port=55440) as cluster:
        yield cluster


# On the real `serve` (prefork workers, each with its own pool, and its log): what is
# checked is that process recovering without a restart, not one in-process app.
@pytest.mark.postgres
def test_postgres_outage_under_a_running_server(
    pg_cluster: PrivateCluster, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """While PostgreSQL is down: webhook 503, slash and buttons a clear private message,
    healthz 503. After it restarts the same process recovers (a pooled connection idle
    for a while is checked before use) and the retried event is accepted and delivered."""
    env = harness.server_env(fake_slack.api_url, pg_cluster.url, TEST_KEY)
    faultkit.db_upgrade(env)
    log = tmp_path / "serve.log"
    server = ServerProcess(env, "--no-scheduler", log_path=log)
    try:
        client = client_for(server.url, fake_slack)
        message = install_and_wait(client, fake_slack)
        approve = buttons(message)[ActionId.APPROVE]

        pg_cluster.stop()
        try:
            retried = event_body(event_id="evt_outage", site_id="site-outage", site_name="Out")
            answer = client.send_event(retried)
            assert answer.status == 503, answer
            assert "send again later" in answer.json()["error"]

            answer, took = _timed(lambda: client.slash("pending", response_name="down-slash"))
            assert answer.status == 200 and took < SLACK_ACK_LIMIT, (answer, took)
            said = answer.body.decode() + " ".join(response_texts(fake_slack, "down-slash"))
            if UNAVAILABLE not in said:  # acked "working on it" first: the answer follows
                assert fake_slack.wait_for(
                    lambda: any(UNAVAILABLE in t for t in response_texts(fake_slack, "down-slash")),
                    timeout=15,
                )

            answer, took = _timed(
                lambda: client.click(
                    ActionId.APPROVE, approve, message_ts=message["ts"], response_name="down-click"
                )
            )
            assert answer.status == 200 and took < SLACK_ACK_LIMIT, (answer, took)
            assert fake_slack.wait_for(
                lambda: any(UNAVAILABLE in t for t in response_texts(fake_slack, "down-click")),
                timeout=15,
            )
            health = client.health()
            assert health.status == 503 and health.json()["database"] == "down"
        finally:
            pg_cluster.start()

        # The same process notices by itself: pooled connections are checked before use.
        assert wait_until(lambda: client.health().status == 200, timeout=30)
        answer = client.send_event(retried)
        assert (answer.status, answer.json()) == (202, {"status": "accepted"})
        assert fake_slack.wait_for(lambda: len(fake_slack.channel_messages(CHANNEL)) == 2, 15)
        assert "Out" in json.dumps(fake_slack.channel_messages(CHANNEL)[1]["blocks"])
        # The click refused during the outage changed nothing; the button still works.
        client.click(ActionId.APPROVE, approve, message_ts=message["ts"], response_name="after")
        assert fake_slack.wait_for(
            lambda: set(buttons(fake_slack.channel_messages(CHANNEL)[0])) == {ActionId.DISABLE},
            timeout=15,
        ), response_texts(fake_slack, "after")
        assert "Oakfield" in client.slash("customers").body.decode()
        # The message posted just before the outage was recorded once it ended, not
        # posted a second time; the retried event got exactly one message.
        assert len(fake_slack.channel_messages(CHANNEL)) == 2
    finally:
        assert server.terminate() == 0
    logs = faultkit.read_log(log)
    assert "Traceback" not in logs, logs[-3000:]
