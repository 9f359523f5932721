"""Slack surfaces: signatures, admins, commands, buttons, faults, limits. Dispatched in
process (signed as Slack signs) unless a test says why it needs real HTTP."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.parse

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func, select

from bot.app import BotApp
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from store.models import AuditEntry, Installation, OutboxItem, State
from tests import harness
from tests.faultkit import without_plain_text
from tests.harness import (
    ADMIN,
    CHANNEL,
    OTHER_ADMIN,
    OUTSIDER,
    Client,
    buttons,
    http,
    install_and_wait,
    wait_until,
)


def _state(bot: BotApp) -> State:
    with bot.db.read() as session:
        return session.scalars(select(Installation.state)).one()


def _failed_tries(bot: BotApp) -> int:
    """Failed tries recorded on the outbox so far (each retry_later adds one)."""
    with bot.db.read() as session:
        return int(session.scalar(select(func.sum(OutboxItem.attempts))) or 0)


def _posts_tried(fs: FakeSlack) -> int:
    with fs.lock:
        return sum(1 for method, _ in fs.calls if method == "chat.postMessage")


def _audit_count(bot: BotApp) -> int:
    with bot.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_slacks_published_signature_example_passes() -> None:
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
        "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
        "collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700"
        "885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2"
        "c447fce8b6703c"
    )
    verifier = SignatureVerifier("8f742231b10e8888abcd99yyyzzz85a5")
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert verifier.generate_signature(timestamp="1531420618", body=body) == expected
    headers = harness.slack_headers(
        body, secret="8f742231b10e8888abcd99yyyzzz85a5", timestamp=1531420618
    )
    assert headers["X-Slack-Signature"] == expected


# HTTP: the WSGI edge checks Slack's signature before Bolt sees the request.
@pytest.mark.parametrize(
    "sign", [{"secret": "forged"}, {"timestamp": -400}], ids=["forged", "stale"]
)
def test_forged_and_stale_slack_requests_get_401(
    served: Client, fake_slack: FakeSlack, bot: BotApp, sign: dict
) -> None:
    message = install_and_wait(served, fake_slack)
    if "timestamp" in sign:
        sign = {"timestamp": int(time.time()) + sign["timestamp"]}
    value = buttons(message)[ActionId.APPROVE]
    assert served.click(ActionId.APPROVE, value, **sign).status == 401
    assert served.slash("secret app-homework site-oak", **sign).status == 401
    assert _state(bot) is State.PENDING
    assert not fake_slack.ephemerals


# HTTP: a raw request with no signature headers at all, refused at the WSGI edge.
def test_unsigned_slack_request_gets_401(served: Client) -> None:
    form = urllib.parse.urlencode({"command": "/simsid", "text": "apps", "user_id": ADMIN})
    answer = http(
        "POST",
        f"{served.base}/slack/events",
        form.encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 401


def test_non_admin_is_refused_everything(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = install_and_wait(dispatched, fake_slack)
    audit_before = _audit_count(bot)
    for text in ("apps", "pending", "customers", "secret app-homework site-oak", "help"):
        reply = dispatched.slash(text, user=OUTSIDER)
        assert reply.status == 200
        assert "Only SIMS ID admins" in str(reply.json()), text
    for action_id, value in buttons(message).items():
        assert dispatched.click(action_id, value, user=OUTSIDER).status == 200
    assert fake_slack.wait_for(lambda: len(fake_slack.ephemerals) == 3)
    assert all("Only SIMS ID admins" in str(e) for e in fake_slack.ephemerals)
    assert _state(bot) is State.PENDING
    assert _audit_count(bot) == audit_before


def test_user_group_member_is_an_admin(dispatched: Client, fake_slack: FakeSlack) -> None:
    install_and_wait(dispatched, fake_slack)
    reply = dispatched.slash("pending", user=OTHER_ADMIN)  # a member of SADMINS
    assert "Only SIMS ID admins" not in str(reply.json())
    assert "Oakfield Primary" in str(reply.json())


def test_request_from_another_workspace_is_refused(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    install_and_wait(dispatched, fake_slack)
    reply = dispatched.slash("secret app-homework site-oak", team="TOTHER")
    assert "ck_" not in reply.body.decode()
    assert _audit_count(bot) == 1  # no secret_viewed row


def test_mistyped_commands_get_help_never_an_error(dispatched: Client) -> None:
    for text in (
        "",
        "help",
        "aps",
        "secret",
        "secret onlyone",
        "app",
        "audit",
        'customer "unterminated',
        "x" * 5000,
    ):
        reply = dispatched.slash(text)
        assert reply.status == 200, text
        payload = reply.json()
        assert "/simsid" in json.dumps(payload), text
        assert "error id" not in json.dumps(payload).lower(), text
    # Invisible controls and direction marks are ignored rather than misread.
    assert "Nothing is waiting" in dispatched.slash("\u202e\u0000pending\u200f").body.decode()


# HTTP, end to end: two requests at once on the real server's threads, as Slack sends them.
def test_two_admins_click_approve_and_remove_at_once(
    served: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = install_and_wait(served, fake_slack)
    shown = buttons(message)
    # Remove asks why first: the race is Approve against the submitted Remove form.
    served.click(ActionId.REMOVE, shown[ActionId.REMOVE], user=OTHER_ADMIN)
    assert fake_slack.wait_for(lambda: len(fake_slack.opened) == 1)
    [form] = fake_slack.opened_views()
    barrier = threading.Barrier(2)
    answers: dict[str, harness.Response] = {}

    def approve() -> None:
        barrier.wait()
        served.click(ActionId.APPROVE, shown[ActionId.APPROVE], message_ts=message["ts"])

    def remove() -> None:
        barrier.wait()
        answers["remove"] = served.submit_view(form, "duplicate", user=OTHER_ADMIN)

    threads = [threading.Thread(target=approve), threading.Thread(target=remove)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = _state(bot)
    assert final in (State.ENABLED, State.REMOVED)
    # Exactly one won; the other was told privately what happened instead: the loser
    # of Approve in a private reply, the loser of Remove in its form.
    if final is State.REMOVED:
        assert fake_slack.wait_for(lambda: len(fake_slack.ephemerals) == 1)
        assert "Already" in str(fake_slack.ephemerals[0])
        assert not answers["remove"].body.strip()
    else:
        assert "Already" in json.dumps(answers["remove"].json()["view"])
        harness.listeners_finished(bot)  # the Approve click has said all it will
        assert not fake_slack.ephemerals
    with bot.db.read() as session:
        changes = list(
            session.scalars(
                select(AuditEntry.to_state).where(AuditEntry.action.in_(["approve", "remove"]))
            )
        )
    assert changes == [final]
    expected = {ActionId.DISABLE} if final is State.ENABLED else set()
    assert fake_slack.wait_for(
        lambda: set(buttons(fake_slack.channel_messages(CHANNEL)[0])) == expected
    )


def test_stale_button_tells_who_acted(dispatched: Client, fake_slack: FakeSlack) -> None:
    message = install_and_wait(dispatched, fake_slack)
    approve = buttons(message)[ActionId.APPROVE]
    dispatched.click(ActionId.APPROVE, approve, user=ADMIN, message_ts=message["ts"])
    # A click is acked before it is applied: let the first land before the second, or
    # under load the second may be applied first and the first be the stale one.
    assert fake_slack.wait_for(
        lambda: set(buttons(fake_slack.channel_messages(CHANNEL)[0])) == {ActionId.DISABLE}
    )
    dispatched.click(ActionId.APPROVE, approve, user=OTHER_ADMIN, message_ts=message["ts"])
    assert fake_slack.wait_for(lambda: len(fake_slack.ephemerals) == 1)
    text = str(fake_slack.ephemerals[0])
    assert f"<@{ADMIN}>" in text and "Already" in text


def test_channel_ping_in_a_site_name_pings_nobody(
    dispatched: Client, fake_slack: FakeSlack
) -> None:
    message = install_and_wait(dispatched, fake_slack, site_name="<!channel> & <!here|x> Academy")
    dumped = json.dumps(without_plain_text(message))
    assert "<!channel>" not in dumped and "<!here" not in dumped
    assert "&lt;!channel&gt; &amp; &lt;!here|x&gt; Academy" in dumped


@pytest.mark.parametrize(
    "fault",
    ["500", "429", "timeout", "refused"],
)
def test_slack_faults_lose_no_install_and_post_none_twice(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp, fault: str
) -> None:
    if fault == "500":
        fake_slack.fail_next(4, status=500, method="chat.postMessage")
    elif fault == "429":
        fake_slack.rate_limit_next(2, retry_after=1, method="chat.postMessage")
    elif fault == "timeout":
        bot.client.timeout = 1
        fake_slack.delay = 1.5
    else:
        fake_slack.refuse_connections()
    for n in range(3):
        answer = dispatched.install(
            event_id=f"evt_fault_{n}", site_id=f"site-{n}", site_name=f"S{n}"
        )
        assert answer.status == 202  # stored whatever Slack is doing
    # Let delivery meet the fault before Slack recovers.
    if fault == "500":  # all four failures served (the client may retry some itself)
        assert fake_slack.wait_for(lambda: _posts_tried(fake_slack) >= 4, timeout=30)
    elif fault == "429":
        assert fake_slack.wait_for(lambda: fake_slack.rate_limited_count >= 2, timeout=30)
    else:  # a try timed out or was refused, and delivery recorded it
        assert wait_until(lambda: _failed_tries(bot) >= 1, 30)
    fake_slack.delay = 0
    if fault == "refused":
        fake_slack.accept_connections()
    bot.delivery.nudge()
    assert fake_slack.wait_for(lambda: len(fake_slack.channel_messages(CHANNEL)) >= 3, timeout=30)
    assert bot.delivery.wait_idle(30)
    posts = fake_slack.channel_messages(CHANNEL)
    sites = sorted(re.search(r"\*S(\d)\*", json.dumps(p["blocks"]))[1] for p in posts)
    if fault == "timeout":
        # A timed-out call may have reached Slack: at most one duplicate per timeout.
        assert set(sites) == {"0", "1", "2"}
    else:
        assert sites == ["0", "1", "2"]


def test_clicks_during_an_outage_change_state_and_the_message_catches_up(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = install_and_wait(dispatched, fake_slack)
    fake_slack.fail_next(3, status=500, method="chat.update")
    dispatched.click(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"])
    assert fake_slack.wait_for(lambda: _state(bot) is State.ENABLED)
    assert fake_slack.wait_for(
        lambda: set(buttons(fake_slack.channel_messages(CHANNEL)[0])) == {ActionId.DISABLE},
        timeout=30,
    )


def test_secret_never_in_logs_or_channels(
    dispatched: Client, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    message = install_and_wait(dispatched, fake_slack)
    dispatched.click(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"])
    assert fake_slack.wait_for(
        lambda: ActionId.DISABLE in buttons(fake_slack.channel_messages(CHANNEL)[0])
    )
    reply = json.loads(dispatched.private_reply(fake_slack, "secret app-homework site-oak"))
    secret = re.search(r"`([A-Za-z0-9_-]{43})`", json.dumps(reply))[1]
    assert reply["response_type"] == "ephemeral"
    # What a running bot writes: its handler drops the libraries' DEBUG records (slack_sdk
    # logs the body it posts to the response_url); test_secrets.py checks a real server.
    from bot.logging_setup import _QuietLibraries

    kept = [r.getMessage() for r in caplog.records if _QuietLibraries().filter(r)]
    assert secret not in "\n".join(kept)
    assert secret not in json.dumps(fake_slack.all_posts())


def _next_page(client: Client, fake_slack: FakeSlack, reply: dict, name: str) -> dict | None:
    """Click the reply's Next and return the page it brings (to the response_url `name`);
    None when the reply has no Next."""
    nxt = buttons(reply).get(ActionId.PAGE)
    if not nxt:
        return None
    client.click(ActionId.PAGE, nxt, ephemeral=True, response_name=name)
    assert fake_slack.wait_for(lambda: any(n == name for n, _ in fake_slack.responses))
    with fake_slack.lock:
        return [b for n, b in fake_slack.responses if n == name][-1]


def test_two_thousand_customers_page_within_slack_limits(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    from datetime import UTC, datetime

    from store.lifecycle import EventType, InstallEvent

    with bot.db.session() as session:
        for n in range(2000):
            bot.lifecycle.apply_event(
                session,
                InstallEvent(
                    f"e{n}",
                    EventType.CREATED,
                    datetime.now(UTC),
                    "app-hw",
                    "Homework Hub",
                    f"site-{n:04}",
                    f"School {n:04}",
                    str(n),
                    None,
                ),
                notify=False,
            )
    seen: set[str] = set()
    reply = dispatched.slash("customers").json()
    pages = 0
    while True:
        pages += 1
        blocks = reply["blocks"]
        assert len(blocks) <= 50
        Block.parse_all(blocks)
        for b in blocks:
            if b.get("text", {}).get("text"):
                assert len(b["text"]["text"]) <= 3000
        seen.update(re.findall(r"School (\d{4})", json.dumps(blocks)))
        following = _next_page(dispatched, fake_slack, reply, f"page{pages}")
        if following is None:
            break
        reply = following
        assert reply.get("replace_original") is True
    assert len(seen) == 2000
    assert pages == 100


def test_a_customer_with_thirty_applications_pages_them_all(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    """`/simsid customer` showed 23 of 30 and "7 more not shown here", with no Next."""
    from datetime import UTC, datetime

    from store.lifecycle import Action, EventType, InstallEvent

    with bot.db.session() as session:
        for n in range(30):
            event = InstallEvent(
                f"e{n}", EventType.CREATED, datetime.now(UTC), f"app-{n:02}", f"App {n:02}",
                "s1", "Oak School", None, None,
            )  # fmt: skip
            bot.lifecycle.apply_event(session, event, notify=False)
    with bot.db.session() as session:  # only the last application is enabled
        [last] = [i for i in session.scalars(select(Installation)) if i.application_id == "app-29"]
        assert bot.lifecycle.act(
            session, installation_id=last.id, action=Action.APPROVE, actor=ADMIN
        ).applied
    seen: list[str] = []
    reply = dispatched.slash("customer s1").json()
    for pages in range(1, 10):
        blocks = reply["blocks"]
        assert len(blocks) <= 50 and "not shown" not in json.dumps(blocks)
        Block.parse_all(blocks)
        seen += re.findall(r"App (\d\d)", json.dumps(blocks))
        # Disable all on every page: App 29, enabled, is on the last one only.
        assert ActionId.DISABLE_ALL in json.dumps(blocks), pages
        following = _next_page(dispatched, fake_slack, reply, f"cpage{pages}")
        if following is None:
            break
        reply = following
    assert seen == [f"{n:02}" for n in range(30)]
    assert pages == 3


# HTTP, end to end: webhook, post, click and every command, the answers as the server frames them.
def test_every_payload_the_bot_sends_parses(served: Client, fake_slack: FakeSlack) -> None:
    message = install_and_wait(served, fake_slack)
    served.click(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"])
    for text in (
        "help",
        "apps",
        "app homework",
        "customers",
        "customer oak",
        "pending",
        "secret homework oakfield",
        "audit homework",
        "nonsense",
    ):
        reply = served.slash(text).json()
        assert reply.get("text"), text
        Block.parse_all(reply.get("blocks") or [])
    fake_slack.wait_for(lambda: fake_slack.channel_messages(CHANNEL)[0]["edits"] >= 1)
    for post in fake_slack.all_posts():
        assert post["text"]
        parsed = Block.parse_all(post["blocks"])
        assert [b.to_dict() for b in parsed] == post["blocks"]


def test_a_burst_posts_a_summary_instead_of_flooding(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    fake_slack.enforce_channel_rate(per_second=1.0, burst=1)
    bot.delivery.stop()  # let the burst pile up, as 1,000 installs in a minute would
    for n in range(40):
        answer = dispatched.install(event_id=f"evt_b{n}", site_id=f"s{n}", site_name=f"S{n}")
        assert answer.status == 202
    bot.delivery = type(bot.delivery)(
        db=bot.db,
        client=bot.client,
        tz=bot.delivery.tz,
        default_channel=bot.delivery.default_channel,
    )
    bot.delivery.start()
    try:

        def tally() -> tuple[int, int]:
            posts = fake_slack.channel_messages(CHANNEL)
            summaries = [p for p in posts if "/simsid pending" in p["text"]]
            covered = sum(int(re.search(r"(\d+) more", p["text"])[1]) for p in summaries)
            return covered, len(posts) - len(summaries)

        # Every install is either posted or covered by a summary, and none twice.
        assert fake_slack.wait_for(lambda: sum(tally()) >= 40, timeout=30), tally()
        assert bot.delivery.wait_idle(30)
        covered, singles = tally()
        assert covered + singles == 40
        assert covered > 0 and len(fake_slack.channel_messages(CHANNEL)) < 10
        # Every install stays actionable from /simsid pending.
        reply = dispatched.slash("pending").json()
        assert "S0" in json.dumps(reply) and ActionId.APPROVE in json.dumps(reply)
    finally:
        bot.delivery.stop()


def test_bypass_auth_install_is_posted_enabled_with_the_primary_note(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    from store import applications

    with bot.db.session() as session:
        applications.register(
            session, app_id="app-portal", name="Parent Portal", bypass_auth=True, sims_primary=True
        )
    message = install_and_wait(
        dispatched, fake_slack, app_id="app-portal", app_name="Parent Portal"
    )
    assert set(buttons(message)) == {ActionId.DISABLE}
    assert "partner support" in json.dumps(message["blocks"])
    assert message["edits"] == 0  # posted enabled, not posted pending and then edited
