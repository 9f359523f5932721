"""Delivery: burst summaries over several applications in one channel, no unfurled
links, and old rows pruned (never the audit log).

Real HTTP into the bot, a real database, and the Slack stand-in answering 429 as Slack
does (a token bucket of one message a second per channel).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from bot.app import BotApp
from bot.background.delivery import Delivery
from bot.background.scheduler import PRUNE_JOB, Scheduler
from bot.config import Settings
from bot.sandbox.fake_slack import FakeSlack
from bot.simsid.schema import parse_event
from store.db import Database
from store.lifecycle import Action, Lifecycle
from store.models import (
    AuditEntry,
    Installation,
    JobClaim,
    MessageStatus,
    OutboxItem,
    OutboxKind,
    ProcessedEvent,
)
from store.retention import Pruned
from tests.faultkit import install_and_wait
from tests.harness import ADMIN, CHANNEL, Client, event_body

APPS = [("app-hw", "Homework Hub"), ("app-pp", "Parent Portal"), ("app-lib", "Library"),
        ("app-mx", "Maths Xtra"), ("app-tj", "Tom & Jerry")]  # fmt: skip
INSTALLS = 200


def _summary_counts(post: dict[str, Any]) -> Counter[str]:
    """Each application's count in a summary, read from the blocks a person sees."""
    found: Counter[str] = Counter()
    for block in post["blocks"]:
        text = (block.get("text") or {}).get("text", "")
        for name, count in re.findall(r"\*(.+?)\*: ([\d,]+)", text):
            found[name.replace("&amp;", "&")] += int(count.replace(",", ""))
    # A summary of one application says it in its text alone.
    single = re.match(r"([\d,]+) more installs of (.+) are waiting", post["text"])
    if not found and single:
        found[single[2].replace("&amp;", "&")] += int(single[1].replace(",", ""))
    return found


def _tally(fake_slack: FakeSlack) -> tuple[Counter[str], int]:
    """(installs covered by summaries, per app; single install messages)."""
    posts = fake_slack.channel_messages(CHANNEL)
    summaries = [p for p in posts if "/simsid pending" in p["text"]]
    covered: Counter[str] = Counter()
    for post in summaries:
        covered.update(_summary_counts(post))
    return covered, len(posts) - len(summaries)


def test_a_burst_over_five_apps_is_summarised_once_despite_429s(
    served: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    fake_slack.enforce_channel_rate(per_second=1.0, burst=1)
    bot.delivery.stop()  # let the burst pile up, as installs arriving faster than 1/s do
    for n in range(INSTALLS):
        app_id, app_name = APPS[n % len(APPS)]
        answer = served.install(
            event_id=f"evt_b{n}", app_id=app_id, app_name=app_name, site_id=f"s{n}",
            site_name=f"S{n}",
        )  # fmt: skip
        assert answer.status == 202
    # Slack is already busy with this channel when delivery starts: the first post is a 429.
    fake_slack.rate_limit_next(1, retry_after=1, method="chat.postMessage")
    bot.delivery = Delivery(
        db=bot.db, client=bot.client, tz=bot.delivery.tz, default_channel=CHANNEL
    )
    bot.delivery.start()
    try:
        assert fake_slack.wait_for(
            lambda: sum(_tally(fake_slack)[0].values()) + _tally(fake_slack)[1] >= INSTALLS,
            timeout=60,
        ), _tally(fake_slack)
        assert bot.delivery.wait_idle(30)  # past every Retry-After: no repost is coming
        covered, singles = _tally(fake_slack)
        assert sum(covered.values()) + singles == INSTALLS, (covered, singles)
        assert set(covered) == {name for _, name in APPS}
        summaries = [
            p for p in fake_slack.channel_messages(CHANNEL) if "/simsid pending" in p["text"]
        ]
        assert len(summaries) == 1  # one message for the wave, every application in it
        assert fake_slack.rate_limited_count >= 1
        # Every install is marked: covered by the summary or posted, none left to send.
        with bot.db.read() as session:
            statuses = Counter(session.scalars(select(Installation.message_status)).all())
            open_items = session.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.done_at.is_(None))  # type: ignore[union-attr]
            )
        assert statuses[MessageStatus.SUMMARISED] == sum(covered.values())
        assert statuses[MessageStatus.POSTED] == singles
        assert open_items == 0
    finally:
        bot.delivery.stop()


def test_no_post_unfurls_links(served: Client, fake_slack: FakeSlack) -> None:
    install_and_wait(served, fake_slack, site_name="https://unfurl.example/x")
    served.slash("pending")
    posts = [p for m, p in fake_slack.calls if m == "chat.postMessage"]
    assert posts
    for post in posts:
        assert post.get("unfurl_links") in (False, "false", "0"), post
        assert post.get("unfurl_media") in (False, "false", "0"), post


# -- retention ------------------------------------------------------------------------


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
