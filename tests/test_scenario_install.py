"""The install flow as SIMS ID and Slack drive it: event in, message out, buttons, secret,
audit (in process; tests/test_e2e_serve.py runs a flow through the real server)."""

from __future__ import annotations

import re

from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from tests import harness
from tests.harness import CHANNEL, Client


def _only_message(fs: FakeSlack) -> dict:
    assert fs.wait_for(lambda: len(fs.channel_messages(CHANNEL)) == 1)
    return fs.channel_messages(CHANNEL)[0]


def test_install_approve_secret_disable_remove(dispatched: Client, fake_slack: FakeSlack) -> None:
    answer = dispatched.install(event_id="evt_1")
    assert answer.status == 202, answer.body
    assert answer.json() == {"status": "accepted"}

    message = _only_message(fake_slack)
    buttons = harness.buttons(message)
    assert set(buttons) == {ActionId.APPROVE, ActionId.DISABLE, ActionId.REMOVE}
    assert "Oakfield Primary" in str(message["blocks"])

    clicked = dispatched.click(
        ActionId.APPROVE, buttons[ActionId.APPROVE], message_ts=message["ts"]
    )
    assert clicked.status == 200
    assert fake_slack.wait_for(
        lambda: set(harness.buttons(fake_slack.channel_messages(CHANNEL)[0])) == {ActionId.DISABLE}
    )
    updated = fake_slack.channel_messages(CHANNEL)[0]
    assert updated["ts"] == message["ts"]  # edited in place, not posted again
    assert f"<@{harness.ADMIN}>" in str(updated["blocks"])

    text = dispatched.private_reply(fake_slack, "secret homework-hub oakfield primary")
    key = re.search(r"ck_[A-Za-z0-9_-]{24}", text)
    secret = re.search(r"`([A-Za-z0-9_-]{43})`", text)
    assert key and secret, text
    posts = str(fake_slack.all_posts())
    # Neither ever reaches a channel.
    assert key[0] not in posts and secret[1] not in posts

    disable = harness.buttons(updated)[ActionId.DISABLE]
    dispatched.decide(fake_slack, ActionId.DISABLE, disable, "billing", message_ts=message["ts"])
    assert fake_slack.wait_for(
        lambda: (
            set(harness.buttons(fake_slack.channel_messages(CHANNEL)[0]))
            == {ActionId.ENABLE, ActionId.REMOVE}
        )
    )
    remove = harness.buttons(fake_slack.channel_messages(CHANNEL)[0])[ActionId.REMOVE]
    dispatched.decide(fake_slack, ActionId.REMOVE, remove, "left us", message_ts=message["ts"])
    assert fake_slack.wait_for(
        lambda: harness.buttons(fake_slack.channel_messages(CHANNEL)[0]) == {}
    )

    audit = dispatched.slash("audit app-homework site-oak").json()
    flat = str(audit)
    for action in (
        "installed",
        "approve",
        "secret viewed",
        "disable",
        "billing",
        "remove",
        "left us",
    ):
        assert action in flat, action
    assert len(fake_slack.channel_messages(CHANNEL)) == 1
