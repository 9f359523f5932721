"""One place per rule: refreshing an install message, retrying a decision, a click's
transaction. Real databases; transactions counted by SQLAlchemy's own commit event."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, select, update
from sqlmodel import col

from bot.slack.operations import Operations
from store import applications, decisions, messages, outbox
from store.db import Database
from store.lifecycle import Action, Lifecycle
from store.models import Installation, MessageStatus, OutboxItem, OutboxKind
from tests.factories import act, at, install

DEFAULT = "C0DEFAULT"


@contextmanager
def commits(db: Database) -> Iterator[list[int]]:
    """Counts the transactions committed on `db` inside the block."""
    seen: list[int] = []

    def count(_conn: Any) -> None:
        seen.append(1)

    event.listen(db.engine, "commit", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "commit", count)


def _queued(db: Database, installation_id: int) -> list[str | None]:
    """Channels of the undone message items queued for the installation."""
    with db.read() as session:
        return list(
            session.scalars(
                select(col(OutboxItem.channel)).where(
                    col(OutboxItem.installation_id) == installation_id,
                    col(OutboxItem.kind) == OutboxKind.MESSAGE,
                    col(OutboxItem.done_at).is_(None),
                )
            )
        )


def _finish_messages(db: Database) -> None:
    with db.session() as session:
        session.execute(
            update(OutboxItem)
            .where(col(OutboxItem.kind) == OutboxKind.MESSAGE)
            .values(done_at=at(1), dedupe_key=None)
        )


def _set_message(db: Database, installation_id: int, **values: Any) -> None:
    with db.session() as session:
        session.execute(
            update(Installation).where(col(Installation.id) == installation_id).values(**values)
        )


def test_refresh_routes_to_the_message_then_the_app_then_the_default(db: Database) -> None:
    lifecycle = Lifecycle(default_channel=DEFAULT, clock=lambda: at(0))
    first = install(db, lifecycle, site="s1")
    assert _queued(db, first) == [DEFAULT]
    with db.session() as session:
        applications.register(session, app_id="app-ch", name="Channelled", channel="C0APP")
    second = install(db, lifecycle, app="app-ch", site="s2")
    assert _queued(db, second) == ["C0APP"]

    _finish_messages(db)
    _set_message(db, first, message_channel="C0POSTED", message_ts="1.1")
    _set_message(db, first, message_status=MessageStatus.POSTED)
    with db.session() as session:
        assert messages.refresh(session, first, default_channel=DEFAULT, now=at(2))
    assert _queued(db, first) == ["C0POSTED"]


def test_refresh_leaves_summarised_and_silent_installations_without_a_message(
    db: Database,
) -> None:
    lifecycle = Lifecycle(default_channel=DEFAULT)
    summarised = install(db, lifecycle, site="s1")
    silent = install(db, lifecycle, site="s2", notify=False)
    _finish_messages(db)
    _set_message(db, summarised, message_status=MessageStatus.SUMMARISED)
    with db.session() as session:
        assert not messages.refresh(session, summarised, default_channel=DEFAULT, now=at(2))
        assert not messages.refresh(session, silent, default_channel=DEFAULT, now=at(2))
    assert _queued(db, summarised) == _queued(db, silent) == []


def _operations(db: Database, lifecycle: Lifecycle) -> Operations:
    return Operations(db=db, lifecycle=lifecycle, tz=ZoneInfo("Europe/London"))


def test_a_click_is_one_transaction_applied_or_refused(db: Database) -> None:
    lifecycle = Lifecycle(default_channel=DEFAULT)
    iid = install(db, lifecycle)
    ops = _operations(db, lifecycle)
    _finish_messages(db)
    with commits(db) as seen:
        applied, _ = ops.act(installation_id=iid, version=None, action=Action.APPROVE, actor="U1")
    assert applied and len(seen) == 1
    _finish_messages(db)
    with commits(db) as seen:
        applied, reply = ops.act(installation_id=iid, version=1, action=Action.DISABLE, actor="U1")
    # Refused (stale), and the message refreshed so it shows the truth: in the same commit.
    assert not applied and len(seen) == 1
    assert _queued(db, iid) == [DEFAULT]
    assert reply.text


def test_disable_all_is_one_transaction(db: Database) -> None:
    lifecycle = Lifecycle(default_channel=DEFAULT)
    ids = [install(db, lifecycle, app=f"app-{n}", site="s1") for n in range(3)]
    for iid in ids:
        act(db, iid, Action.APPROVE, lifecycle=lifecycle)
    ops = _operations(db, lifecycle)
    enabled = ops.enabled_at("s1")
    with commits(db) as seen:
        reply = ops.disable_all(site_id="s1", enabled=enabled, actor="U1")
    assert len(seen) == 1
    assert "3" in reply.text


def test_the_retry_button_and_the_outbox_command_retry_alike(db: Database) -> None:
    """Both reset the decision and refresh the message, through decisions.retry."""
    lifecycle = Lifecycle(upstream=True, default_channel=DEFAULT)
    iid = install(db, lifecycle)
    act(db, iid, Action.APPROVE, lifecycle=lifecycle)
    _finish_messages(db)
    _set_message(db, iid, message_status=MessageStatus.POSTED, message_channel="C0P")
    _set_message(db, iid, message_ts="1.1")
    with db.session() as session:
        [item] = outbox.claim_due(session, worker="w", kinds=[OutboxKind.UPSTREAM])
        outbox.retry_later(session, item, error="HTTP 400", give_up_after=1)
    ops = _operations(db, lifecycle)
    with commits(db) as seen:
        assert ops.retry_upstream(outbox_id=item.id)
    assert len(seen) == 1
    assert _queued(db, iid) == ["C0P"]
    _finish_messages(db)
    with db.session() as session:
        # Waiting again, not failed: the outbox command may retry it too, the same way.
        assert decisions.retry(session, item.id)
    assert _queued(db, iid) == ["C0P"]
