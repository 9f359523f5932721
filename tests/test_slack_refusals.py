"""Slack's lasting refusals: said plainly, nothing lost, no retry storm.

The bot on a real database (SQLite and PostgreSQL) talks to the Slack stand-in told to
refuse a channel, the token or a payload as Slack does. The delivery loop runs pass by
pass on a clock the test moves, so the number of Slack calls over minutes is exact.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.app import BotApp, create_app
from bot.cli.outbox import show_outbox
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from store import applications
from store.lifecycle import Action
from store.models import MessageStatus
from tests import harness
from tests.conftest import make_settings
from tests.factories import act, get, install

DEFAULT = harness.CHANNEL
APP_CHANNEL = "C0PRIVATE"
START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def pass_(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bot(fake_slack: FakeSlack, db_url: str, clock: Clock) -> Iterator[BotApp]:
    app = create_app(make_settings(fake_slack, db_url), clock=clock)
    with app.db.session() as session:
        applications.register(session, app_id="app-hw", name="Homework Hub", channel=APP_CHANNEL)
        applications.register(session, app_id="app-lib", name="Library")  # default channel
    yield app
    app.db.dispose()


def _installs(bot: BotApp, app: str, count: int, first: int = 0) -> list[int]:
    return [
        install(bot.db, bot.lifecycle, app=app, site=f"s{n}", site_name=f"School {n}")
        for n in range(first, first + count)
    ]


def _calls(fs: FakeSlack, method: str, channel: str | None = None) -> int:
    with fs.lock:
        return sum(
            1 for m, p in fs.calls if m == method and (channel is None or p["channel"] == channel)
        )


def _installs_posted(fs: FakeSlack, channel: str) -> Counter[str]:
    """How many install messages each school has in the channel."""
    return Counter(
        m["text"].split(":")[0]
        for m in fs.channel_messages(channel)
        if m["text"].startswith("School ")
    )


def _notices(fs: FakeSlack) -> list[dict[str, Any]]:
    return [p for p in fs.channel_messages(DEFAULT) if "refuses install messages" in p["text"]]


def _health(bot: BotApp) -> dict[str, Any]:
    answer = harness.InProcess(bot).health()
    assert answer.status == 200  # the process is healthy: Slack refusing is for people
    body: dict[str, Any] = answer.json()
    return body


def _tick(bot: BotApp, clock: Clock, seconds: float, every: float = 10.0) -> None:
    """Let `seconds` pass, the delivery loop running a pass every `every` seconds."""
    waited = 0.0
    while waited < seconds:
        clock.pass_(every)
        waited += every
        bot.delivery.drain()


def test_a_channel_refusing_sends_its_messages_to_the_default_channel_told_once(
    bot: BotApp, fake_slack: FakeSlack, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.refuse_channel(APP_CHANNEL, "not_in_channel")
    ids = _installs(bot, "app-hw", 3)
    bot.delivery.drain()
    _tick(bot, clock, 2, every=1)  # first posts to one channel: one a second

    # One try of the app's channel, not one per message; every message in the default
    # channel, saying where it belonged; one notice saying what is wrong and the fix.
    assert _calls(fake_slack, "chat.postMessage", APP_CHANNEL) == 1
    assert _installs_posted(fake_slack, DEFAULT) == {f"School {n}": 1 for n in range(3)}
    posts = fake_slack.channel_messages(DEFAULT)
    notices = _notices(fake_slack)
    assert len(notices) == 1
    notice = json.dumps(notices[0]["blocks"])
    assert "/invite" in notice and "<@UBOT>" in notice and "--channel" in notice
    assert f"<#{APP_CHANNEL}>" in notice and "not_in_channel" in notice
    for post in posts[1:]:
        shown = json.dumps(post["blocks"])
        assert f"belongs in <#{APP_CHANNEL}>" in shown and "not_in_channel" in shown
        assert '"type": "actions"' in shown  # its buttons are there
    for iid in ids:
        assert get(bot.db, iid).message_channel == DEFAULT
    assert caplog.text.count("Slack refuses posts to channel") == 1

    # Later changes edit the message where it is, with its line.
    act(bot.db, ids[0], Action.APPROVE, lifecycle=bot.lifecycle)
    bot.delivery.drain()
    assert _calls(fake_slack, "chat.update", DEFAULT) == 1
    edited = fake_slack.find_message(DEFAULT, str(get(bot.db, ids[0]).message_ts))
    assert edited is not None and "Enabled" in json.dumps(edited["blocks"])
    assert f"belongs in <#{APP_CHANNEL}>" in json.dumps(edited["blocks"])

    # More installs within minutes: straight to the default channel, no more notices.
    _installs(bot, "app-hw", 2, first=3)
    _tick(bot, clock, 60)
    assert _calls(fake_slack, "chat.postMessage", APP_CHANNEL) == 1
    assert len(_notices(fake_slack)) == 1
    assert _health(bot)["slack"]["refusals"] == [
        {"what": "channel", "channel": APP_CHANNEL, "error": "not_in_channel",
         "since_seconds": 62.0},
    ]  # fmt: skip

    # Another reason for the same channel is news: told once more.
    fake_slack.refuse_channel(APP_CHANNEL, "is_archived")
    clock.pass_(180)
    _installs(bot, "app-hw", 1, first=5)
    bot.delivery.drain()
    assert len(_notices(fake_slack)) == 2

    # The bot is invited: the next install asked after a few minutes goes to its channel.
    fake_slack.refuse_channel(APP_CHANNEL, None)
    clock.pass_(180)
    [late] = _installs(bot, "app-hw", 1, first=6)
    bot.delivery.drain()
    assert get(bot.db, late).message_channel == APP_CHANNEL
    assert _installs_posted(fake_slack, APP_CHANNEL) == {"School 6": 1}
    assert _installs_posted(fake_slack, DEFAULT) == {f"School {n}": 1 for n in range(6)}
    assert _health(bot)["slack"] == {"status": "ok", "refusals": [], "held_items": 0}


def test_the_default_channel_refusing_too_keeps_every_item_and_asks_every_few_minutes(
    bot: BotApp, fake_slack: FakeSlack, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.refuse_channel(DEFAULT, "channel_not_found")
    fake_slack.refuse_channel(APP_CHANNEL, "not_in_channel")
    _installs(bot, "app-lib", 3)
    _installs(bot, "app-hw", 2, first=3)
    bot.delivery.drain()
    first = len(fake_slack.calls)
    assert first <= 5  # the app's channel once, the default channel once or twice

    _tick(bot, clock, 15 * 60)  # a quarter of an hour of passes
    posts_later = len(fake_slack.calls) - first
    # Asked again every 3 minutes (each channel), not each item on its own backoff.
    assert posts_later <= 2 * (15 // 3 + 1), fake_slack.calls[first:]
    assert caplog.text.count("Slack refuses posts to the default channel") == 1
    assert fake_slack.all_posts() == []

    health = _health(bot)["slack"]
    assert health["status"] == "refused"
    assert {"what": "channel", "channel": DEFAULT, "error": "channel_not_found"}.items() <= (
        next(r for r in health["refusals"] if r["channel"] == DEFAULT).items()
    )
    assert health["held_items"] == 5

    # The admins' Home tab says so first.
    home = json.dumps(create_home(bot).render(harness.ADMIN)["blocks"][:2])
    assert "Messages are not reaching Slack" in home and f"<#{DEFAULT}>" in home

    # The channel is fixed; `outbox --retry all` sends everything now, each once.
    fake_slack.refuse_channel(DEFAULT, None)
    out = io.StringIO()
    assert show_outbox(bot.db, retry="all", out=out, clock=clock) == 0
    assert "5 held items" in out.getvalue()
    _tick(bot, clock, 60)
    assert _installs_posted(fake_slack, DEFAULT) == {f"School {n}": 1 for n in range(5)}
    _tick(bot, clock, 10 * 60)
    assert _installs_posted(fake_slack, DEFAULT) == {f"School {n}": 1 for n in range(5)}
    # The app's channel still refuses (its messages are in the default channel).
    assert [r["channel"] for r in _health(bot)["slack"]["refusals"]] == [APP_CHANNEL]


def create_home(bot: BotApp) -> Any:
    from bot.slack.admins import Admins
    from bot.slack.home_tab import HomeTab

    return HomeTab(
        db=bot.db,
        admins=Admins(bot.settings.admin_users, bot.settings.admin_groups, bot.client),
        client=bot.client,
        tz=bot.settings.tz,
        clock=bot.delivery.clock,
        default_channel=DEFAULT,
    )


def test_a_refused_token_pauses_deliveries_probes_once_a_minute_and_loses_nothing(
    bot: BotApp, fake_slack: FakeSlack, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.refuse_token("token_revoked")
    _installs(bot, "app-lib", 3)
    bot.delivery.drain()
    assert len(fake_slack.calls) == 1  # the first post says so; nothing else is tried

    _tick(bot, clock, 10 * 60)
    methods = Counter(m for m, _ in fake_slack.calls)
    assert methods == {"chat.postMessage": 1, "auth.test": 10}  # one probe a minute
    assert caplog.text.count("Slack refuses the bot token") == 1
    health = _health(bot)["slack"]
    assert health["refusals"][0]["what"] == "token"
    assert health["refusals"][0]["error"] == "token_revoked"
    assert "xoxb" not in json.dumps(health)

    # The token works again: the next probe resumes, and everything goes out once.
    fake_slack.refuse_token(None)
    _tick(bot, clock, 90)
    assert _installs_posted(fake_slack, DEFAULT) == {f"School {n}": 1 for n in range(3)}
    _tick(bot, clock, 5 * 60)
    assert _installs_posted(fake_slack, DEFAULT) == {f"School {n}": 1 for n in range(3)}
    assert _health(bot)["slack"]["status"] == "ok"


def test_a_restart_with_a_new_token_delivers_at_once(
    fake_slack: FakeSlack, db_url: str, clock: Clock
) -> None:
    first = create_app(make_settings(fake_slack, db_url), clock=clock)
    try:
        fake_slack.refuse_token("invalid_auth")
        _installs(first, "app-lib", 2)
        first.delivery.drain()
        assert fake_slack.all_posts() == []
    finally:
        first.db.dispose()
    fake_slack.refuse_token(None)  # the new token
    second = create_app(make_settings(fake_slack, db_url), clock=clock)
    try:
        second.delivery.drain()  # no minute's wait: a starting process probes at once
        assert _installs_posted(fake_slack, DEFAULT) == {"School 0": 1}
        clock.pass_(1)  # the next post in the channel's next second, as always
        second.delivery.drain()
        assert _installs_posted(fake_slack, DEFAULT) == {"School 0": 1, "School 1": 1}
    finally:
        second.db.dispose()


def test_two_processes_share_one_refusal_one_probe_a_minute_between_them(
    bot: BotApp, fake_slack: FakeSlack, db_url: str, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    other = create_app(make_settings(fake_slack, db_url), clock=clock)  # a second worker
    try:
        fake_slack.refuse_channel(DEFAULT, "is_archived")
        fake_slack.refuse_token("account_inactive")
        _installs(bot, "app-lib", 4)
        bot.delivery.drain()
        other.delivery.drain()  # learns the refusal from the database: probes once, at start
        for _ in range(30):  # ten minutes, both running a pass every 20 s
            clock.pass_(20)
            bot.delivery.drain()
            other.delivery.drain()
        methods = Counter(m for m, _ in fake_slack.calls)
        assert methods == {"chat.postMessage": 1, "auth.test": 1 + 10}
        assert caplog.text.count("Slack refuses the bot token") == 1

        fake_slack.refuse_token(None)  # the token works; the channel is still archived
        clock.pass_(60)
        other.delivery.drain()
        bot.delivery.drain()
        before = len(fake_slack.calls)
        for _ in range(18):  # six minutes: the channel asked twice, by one of them
            clock.pass_(20)
            bot.delivery.drain()
            other.delivery.drain()
        assert _calls(fake_slack, "chat.postMessage") - 1 <= 1 + 2, fake_slack.calls[before:]
        fake_slack.refuse_channel(DEFAULT, None)
        out = io.StringIO()
        assert show_outbox(bot.db, retry="all", out=out, clock=clock) == 0
        for _ in range(10):
            clock.pass_(1)
            other.delivery.drain()
            bot.delivery.drain()
        assert _installs_posted(fake_slack, DEFAULT) == {f"School {n}": 1 for n in range(4)}
    finally:
        other.db.dispose()


def test_the_tokens_revoked_event_pauses_deliveries_before_any_refusal(
    bot: BotApp, fake_slack: FakeSlack, clock: Clock
) -> None:
    body = json.dumps(
        {
            "token": "unused",
            "team_id": harness.TEAM_ID,
            "api_app_id": "A0SIMSID",
            "type": "event_callback",
            "event_id": "Ev0REVOKED",
            "event_time": 1,
            "event": {"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}},
        }
    )
    answer = harness.InProcess(bot).post_slack(body, content_type="application/json")
    assert answer.status == 200
    assert _health(bot)["slack"]["refusals"][0]["error"] == "tokens_revoked"
    before = len(fake_slack.calls)
    fake_slack.refuse_token("token_revoked")
    _installs(bot, "app-lib", 2)
    _tick(bot, clock, 60)
    assert [m for m, _ in fake_slack.calls[before:]] == ["auth.test"]  # the probe alone


def test_a_refused_payload_goes_out_in_its_least_form_never_resent_as_is(
    bot: BotApp, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    why = "[ERROR] must be less than 76 characters [json-pointer:/blocks/3/elements/0/text]"
    fake_slack.refuse_payloads("invalid_blocks", over_blocks=2, why=why)
    caplog.set_level(logging.INFO)
    [iid] = _installs(bot, "app-lib", 1)
    bot.delivery.drain()
    assert _calls(fake_slack, "chat.postMessage") == 2  # the full form refused, the least sent
    [post] = fake_slack.channel_messages(DEFAULT)
    assert post["text"] == "*School 0*: Library is pending approval"
    assert [b["type"] for b in post["blocks"]] == ["section", "actions"]
    assert get(bot.db, iid).message_status is MessageStatus.POSTED
    assert caplog.text.count(why) == 1

    act(bot.db, iid, Action.APPROVE, lifecycle=bot.lifecycle)
    bot.delivery.drain()
    assert _calls(fake_slack, "chat.update") == 1  # straight to the least form
    edited = fake_slack.find_message(DEFAULT, post["ts"])
    assert edited is not None and edited["text"] == "*School 0*: Library is enabled"
    assert caplog.text.count(why) == 1


def test_a_click_on_a_message_in_the_default_channel_edits_it_there(
    fake_slack: FakeSlack, sqlite_url: str
) -> None:
    """With the delivery loop running: the button of a message that stands in for a
    refusing channel acts, and the message is edited where it is."""
    app = create_app(make_settings(fake_slack, sqlite_url))
    with app.db.session() as session:
        applications.register(session, app_id="app-hw", name="Homework Hub", channel=APP_CHANNEL)
    fake_slack.refuse_channel(APP_CHANNEL, "channel_not_found")
    try:
        with harness.in_process(app, fake_slack) as client:
            assert client.install(app_id="app-hw", app_name="Homework Hub").status == 202
            assert fake_slack.wait_for(lambda: len(fake_slack.channel_messages(DEFAULT)) == 2)
            message = fake_slack.channel_messages(DEFAULT)[1]
            approve = harness.buttons(message)[ActionId.APPROVE]
            clicked = client.click(ActionId.APPROVE, approve, message_ts=message["ts"])
            assert clicked.status == 200
            assert fake_slack.wait_for(
                lambda: "Enabled" in json.dumps(fake_slack.channel_messages(DEFAULT)[1]["blocks"])
            )
            edited = fake_slack.channel_messages(DEFAULT)[1]
            assert edited["ts"] == message["ts"] and f"<#{APP_CHANNEL}>" in json.dumps(edited)
            assert _calls(fake_slack, "chat.postMessage", APP_CHANNEL) == 1
    finally:
        app.delivery.stop()
        app.db.dispose()
