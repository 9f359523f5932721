"""End to end: `simsid-bot serve` as a subprocess, driven over real HTTP."""

from __future__ import annotations

import re
from pathlib import Path

from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from tests import harness
from tests.conftest import TEST_KEY
from tests.faultkit import without_plain_text
from tests.harness import CHANNEL, Client, ServerProcess


def test_serve_subprocess_full_cycle(fake_slack: FakeSlack, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    env = harness.server_env(fake_slack.api_url, f"sqlite:///{tmp_path / 'e2e.db'}", TEST_KEY)
    server = ServerProcess(env, "--no-scheduler", log_path=log)
    try:
        client = Client(server.url, fake_slack.response_url("x").rsplit("/", 1)[0])
        assert client.health().json()["status"] == "ok"
        assert client.install(event_id="evt_e2e_1", site_name="Oakfield <!channel>").status == 202

        assert fake_slack.wait_for(lambda: len(fake_slack.channel_messages(CHANNEL)) == 1)
        message = fake_slack.channel_messages(CHANNEL)[0]
        buttons = harness.buttons(message)
        assert set(buttons) == {ActionId.APPROVE, ActionId.DISABLE, ActionId.REMOVE}
        assert "<!channel>" not in str(without_plain_text(message))  # escaped: pings nobody

        client.click(ActionId.APPROVE, buttons[ActionId.APPROVE], message_ts=message["ts"])
        assert fake_slack.wait_for(
            lambda: (
                set(harness.buttons(fake_slack.channel_messages(CHANNEL)[0])) == {ActionId.DISABLE}
            )
        )
        assert fake_slack.channel_messages(CHANNEL)[0]["ts"] == message["ts"]

        secret_reply = client.private_reply(fake_slack, "secret app-homework site-oak")
        secret = re.search(r"`([A-Za-z0-9_-]{43})`", secret_reply)
        assert secret is not None

        current = harness.buttons(fake_slack.channel_messages(CHANNEL)[0])
        client.decide(
            fake_slack, ActionId.DISABLE, current[ActionId.DISABLE], message_ts=message["ts"]
        )
        assert fake_slack.wait_for(
            lambda: ActionId.REMOVE in harness.buttons(fake_slack.channel_messages(CHANNEL)[0])
        )
        current = harness.buttons(fake_slack.channel_messages(CHANNEL)[0])
        client.decide(
            fake_slack, ActionId.REMOVE, current[ActionId.REMOVE], message_ts=message["ts"]
        )
        assert fake_slack.wait_for(
            lambda: harness.buttons(fake_slack.channel_messages(CHANNEL)[0]) == {}
        )

        audit = str(client.slash("audit homework-hub").json())
        for action in ("installed", "approve", "secret viewed", "disable", "remove"):
            assert action in audit
        assert len(fake_slack.channel_messages(CHANNEL)) == 1
    finally:
        assert server.terminate() == 0
    logs = log.read_text()
    assert secret.group(1) not in logs
