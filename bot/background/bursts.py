"""Burst summaries: when many first posts wait in one channel, one message covers them all."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from bot.slack import views
from store import messages, queries
from store.db import Database

log = logging.getLogger(__name__)

# Above this many first posts waiting in one channel, post a summary instead.
BURST_THRESHOLD = 10


def summarise_burst(
    db: Database,
    channel: str,
    *,
    worker: str,
    clock: Callable[[], datetime],
    post: Callable[[str, views.Message], object],
    record: Callable[[Callable[[Session], None]], None],
) -> bool:
    """Post one summary for a channel's waiting first posts; False when there is no burst.

    One message for the whole wave, each application with its count: a message per
    application would meet Slack's one-a-second limit at the second post, and the 429 would
    give back every claim, posting the first summary again for ever. With one post, the
    installs it covers are marked (through `record`) as soon as it succeeds; a 429 before
    it gives them back with nothing posted.
    """
    with db.read() as session:
        backlog = queries.unposted_backlog(session, channel)
    if backlog <= BURST_THRESHOLD:
        return False
    now = clock()
    with db.session() as session:
        claimed = messages.claim_unposted(session, channel, worker=worker, now=now)
    if not claimed:
        return False
    counts = Counter(c.application_id for c in claimed)
    try:
        with db.read() as session:
            names = {a.id: a.name for a in queries.list_applications(session)}
        summary = views.burst_summary(
            [(names.get(app_id, app_id), count) for app_id, count in counts.most_common()]
        )
        post(channel, summary)
    except BaseException:
        with db.session() as session:
            messages.release_claims(session, claimed)
        raise
    done = clock()
    record(lambda session: messages.mark_summarised(session, claimed, now=done))
    log.info("summarised %d installs of %d applications in %s", len(claimed), len(counts), channel)
    return True
