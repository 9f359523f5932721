"""What delivery posts: a burst over several applications in one channel summarised once
(through Slack's 429s, a token bucket of one message a second per channel, as Slack
does), and no post unfurling links. Signed requests into the bot, a real database.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from bot.app import BotApp
from bot.background.delivery import Delivery
from bot.sandbox.fake_slack import FakeSlack
from store.models import (
    Installation,
    MessageStatus,
    OutboxItem,
)
from tests.factories import install
from tests.harness import CHANNEL, Client, install_and_wait

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
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    fake_slack.enforce_channel_rate(per_second=1.0, burst=1)
    bot.delivery.stop()  # let the burst pile up, as installs arriving faster than 1/s do
    for n in range(INSTALLS):
        app_id, app_name = APPS[n % len(APPS)]
        answer = dispatched.install(
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


def test_no_post_unfurls_links(dispatched: Client, fake_slack: FakeSlack) -> None:
    install_and_wait(dispatched, fake_slack, site_name="https://unfurl.example/x")
    dispatched.slash("pending")
    posts = [p for m, p in fake_slack.calls if m == "chat.postMessage"]
    assert posts
    for post in posts:
        assert post.get("unfurl_links") in (False, "false", "0"), post
        assert post.get("unfurl_media") in (False, "false", "0"), post


def test_a_stopped_delivery_still_drains_what_is_due(bot: BotApp, fake_slack: FakeSlack) -> None:
    """stop() ends the loops, not the object: a drain after it (a one-shot command, a test
    after serving the bot) posts what is due instead of claiming it and giving it back."""
    bot.delivery.start()
    bot.delivery.stop()
    assert not bot.delivery.running()
    install(bot.db, bot.lifecycle, site_name="Oakfield")
    bot.delivery.drain()
    assert [m["text"].split(":")[0] for m in fake_slack.channel_messages(CHANNEL)] == ["Oakfield"]
