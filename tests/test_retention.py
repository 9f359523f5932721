"""Retention: event ids, finished deliveries and job claims older than the retention
period are pruned by a scheduled job; unfinished deliveries, the latest upstream delivery
of each installation and the audit log never are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from bot.background.scheduler import PRUNE_JOB, Scheduler
from bot.config import Settings
from bot.simsid.schema import parse_event
from store.db import Database
from store.lifecycle import Action, Lifecycle
from store.models import (
    AuditEntry,
    Installation,
    JobClaim,
    OutboxItem,
    OutboxKind,
    ProcessedEvent,
)
from store.retention import Pruned
from tests.harness import ADMIN, CHANNEL, event_body


def test_old_event_ids_and_finished_deliveries_are_pruned_never_the_audit_log(
    db: Database,
) -> None:
    now = datetime.now(UTC)
    lifecycle = Lifecycle(upstream=True, default_channel=CHANNEL)
    for n in range(6):
        event = parse_event(event_body(event_id=f"evt_r{n}", site_id=f"site-r{n}"))
        with db.session() as session:
            lifecycle.apply_event(session, event)
    with db.session() as session:
        ids = session.scalars(select(Installation.id).order_by(Installation.id)).all()
        for iid in ids:
            lifecycle.act(session, installation_id=iid, action=Action.APPROVE, actor=ADMIN)
        for iid in ids[:3]:
            lifecycle.act(session, installation_id=iid, action=Action.DISABLE, actor=ADMIN)
    old = now - timedelta(days=91)
    recent = now - timedelta(days=89)
    with db.session() as session:
        # Every row finished; half of them long ago.
        session.execute(update(OutboxItem).values(done_at=recent))
        session.execute(update(OutboxItem).where(OutboxItem.id % 2 == 0).values(done_at=old))  # type: ignore[operator]
        session.execute(update(ProcessedEvent).values(received_at=old))
        session.execute(
            update(ProcessedEvent).where(ProcessedEvent.id == "evt_r0").values(received_at=recent)  # type: ignore[arg-type]
        )
        # One still to do, however old: never pruned.
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == session.scalar(select(func.min(OutboxItem.id))))  # type: ignore[arg-type]
            .values(done_at=None, created_at=old)
        )

    def rows() -> tuple[list[int], list[str], int]:
        with db.read() as session:
            return (
                list(session.scalars(select(OutboxItem.id).order_by(OutboxItem.id))),
                list(session.scalars(select(ProcessedEvent.id))),
                int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0),
            )

    with db.read() as session:
        latest_upstream = set(
            session.scalars(
                select(func.max(OutboxItem.id))
                .where(OutboxItem.kind == OutboxKind.UPSTREAM)  # type: ignore[arg-type]
                .group_by(OutboxItem.installation_id)
            )
        )
        unfinished = session.scalar(select(OutboxItem.id).where(OutboxItem.done_at.is_(None)))  # type: ignore[union-attr]
        old_finished = set(
            session.scalars(
                select(OutboxItem.id).where(OutboxItem.done_at < now - timedelta(days=90))  # type: ignore[operator]
            )
        )
    before_outbox, _, before_audit = rows()
    assert old_finished - latest_upstream, "the test must have something to prune"

    config = Settings(_env_file=None, simsid_default_channel=CHANNEL)  # type: ignore[call-arg]
    assert config.simsid_retention_days == 90
    scheduler = Scheduler(db, config, on_work=lambda: None, clock=lambda: now)
    pruned = scheduler.run_prune()

    outbox_ids, event_ids, audit = rows()
    assert event_ids == ["evt_r0"] and pruned.events == 5
    assert set(outbox_ids) == set(before_outbox) - (old_finished - latest_upstream)
    assert unfinished in outbox_ids and latest_upstream <= set(outbox_ids)
    assert pruned.deliveries == len(old_finished - latest_upstream)
    assert audit == before_audit  # the audit log is never pruned
    assert scheduler.run_prune() == Pruned(0, 0, 0)  # nothing left to do


def test_job_claims_older_than_the_retention_are_pruned(db: Database) -> None:
    """Digest and reminder claims only have to outlive their period; kept for ever, one
    row per installation per reminder step piled up."""
    from store import claims

    now = datetime.now(UTC)
    with db.session() as session:
        for n, age in enumerate((91, 200, 89, 0)):
            claims.claim(session, f"test-claim-{n}", by="test", now=now - timedelta(days=age))
    config = Settings(_env_file=None, simsid_default_channel=CHANNEL)  # type: ignore[call-arg]
    scheduler = Scheduler(db, config, on_work=lambda: None, clock=lambda: now)
    assert scheduler.run_prune().claims == 2
    with db.read() as session:
        kept = set(session.scalars(select(JobClaim.key)))
    assert kept == {"test-claim-2", "test-claim-3"}


def test_the_prune_job_runs_in_the_scheduler(sqlite_db: Database) -> None:
    config = Settings(_env_file=None, simsid_default_channel=CHANNEL)  # type: ignore[call-arg]
    scheduler = Scheduler(sqlite_db, config, on_work=lambda: None).start()
    try:
        assert PRUNE_JOB in scheduler.job_ids()
    finally:
        scheduler.shutdown()
