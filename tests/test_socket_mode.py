"""`serve --socket-mode`: Slack traffic over a WebSocket, the webhook still over HTTP."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path
from typing import Any

from websockets.sync.server import ServerConnection, serve

from bot.sandbox.fake_slack import FakeSlack
from tests import harness
from tests.conftest import TEST_KEY
from tests.harness import ADMIN, Client, ServerProcess


class SocketModeStandIn:
    """Plays Slack's Socket Mode endpoint: says hello, sends envelopes, collects acks."""

    def __init__(self) -> None:
        self.acks: queue.Queue[dict[str, Any]] = queue.Queue()
        self.connected = threading.Event()
        self._connection: ServerConnection | None = None
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/link"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handle(self, connection: ServerConnection) -> None:
        self._connection = connection
        connection.send(
            json.dumps(
                {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0SIMSID"}}
            )
        )
        self.connected.set()
        for raw in connection:
            self.acks.put(json.loads(raw))

    def send(self, envelope: dict[str, Any]) -> None:
        assert self._connection is not None
        self._connection.send(json.dumps(envelope))

    def close(self) -> None:
        self._server.shutdown()


def test_socket_mode_answers_commands_and_still_serves_the_webhook(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    socket = SocketModeStandIn()
    fake_slack.socket_mode_url = socket.url
    env = harness.server_env(
        fake_slack.api_url,
        f"sqlite:///{tmp_path / 'sm.db'}",
        TEST_KEY,
        SLACK_APP_TOKEN=fake_slack.app_token,
    )
    del env["SLACK_SIGNING_SECRET"]  # Socket Mode needs none
    server = ServerProcess(env, "--socket-mode", "--no-scheduler", log_path=tmp_path / "serve.log")
    try:
        assert socket.connected.wait(20), (tmp_path / "serve.log").read_text()
        client = Client(server.url)
        assert client.health().status == 200
        assert client.install(event_id="evt_sm").status == 202
        assert fake_slack.wait_for(lambda: len(fake_slack.channel_messages(harness.CHANNEL)) == 1)

        socket.send(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {
                    "token": "unused",
                    "team_id": harness.TEAM_ID,
                    "user_id": ADMIN,
                    "command": "/simsid",
                    "text": "pending",
                    "channel_id": harness.CHANNEL,
                    "response_url": fake_slack.response_url("sm"),
                    "trigger_id": "t.1",
                    "api_app_id": "A0SIMSID",
                },
            }
        )
        ack = socket.acks.get(timeout=15)
        assert ack["envelope_id"] == "env-1"
        assert "Oakfield Primary" in json.dumps(ack["payload"])
        # The Home tab: app_home_opened comes over the socket too.
        socket.send(
            {
                "envelope_id": "env-2",
                "type": "events_api",
                "accepts_response_payload": False,
                "payload": {
                    "token": "unused",
                    "team_id": harness.TEAM_ID,
                    "api_app_id": "A0SIMSID",
                    "type": "event_callback",
                    "event_id": "Ev0SOCKETHOME",
                    "event_time": 1795770000,
                    "event": {
                        "type": "app_home_opened",
                        "user": ADMIN,
                        "channel": "D0HOME",
                        "tab": "home",
                        "event_ts": "1795770000.000100",
                    },
                },
            }
        )
        assert socket.acks.get(timeout=15)["envelope_id"] == "env-2"
        assert fake_slack.wait_for(lambda: fake_slack.home(ADMIN) is not None, 15)
        assert "Oakfield Primary" in json.dumps(fake_slack.home(ADMIN))
        # There is no HTTP endpoint for Slack in Socket Mode.
        assert harness.http("POST", f"{server.url}/slack/events", b"x").status == 404
    finally:
        assert server.terminate() == 0
        socket.close()
