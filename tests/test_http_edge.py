"""Attacks on the HTTP edge: unverifiable Slack requests,
odd signature timestamps, and bodies announced larger than the limits.

Each test sends real HTTP to the bot served on a loopback port; Slack is the stand-in.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from pathlib import Path

import pytest

from bot.app import BotApp
from bot.sandbox.fake_slack import FakeSlack
from bot.simsid import signing
from tests import harness
from tests.harness import CHANNEL, Client, event_body, http

# Long enough that a server waiting for the body would still be waiting: a fail-safe
# for the test, not a measure of speed.
SOCKET_TIMEOUT = 8.0


def _slash_form(response_url: str) -> str:
    return urllib.parse.urlencode(
        {
            "team_id": harness.TEAM_ID,
            "user_id": harness.ADMIN,
            "command": "/simsid",
            "text": "pending",
            "response_url": response_url,
            "trigger_id": "trig.forged",
        }
    )


@pytest.mark.parametrize("timestamp", ["abc", "²", "¹²³", "-5", "1e9", ""])
def test_unverifiable_slack_request_is_401_and_nothing_is_called(
    served: Client, fake_slack: FakeSlack, bot: BotApp, timestamp: str
) -> None:
    # The response_url an attacker names would be any URL; here it is the stand-in's, so
    # a post to it would be seen.
    form = _slash_form(fake_slack.response_url("forged"))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + "0" * 64,
    }
    answer = http("POST", f"{served.base}/slack/events", form.encode(), headers)
    assert answer.status == 401
    harness.listeners_finished(bot)  # anything sent on the request's behalf has gone by now
    assert fake_slack.responses == []
    assert [m for m, _ in fake_slack.calls if m != "auth.test"] == []


def test_wrong_signature_with_a_good_timestamp_is_401(
    served: Client, fake_slack: FakeSlack
) -> None:
    form = _slash_form(fake_slack.response_url("forged"))
    headers = harness.slack_headers(form, secret="not-the-signing-secret")
    answer = http("POST", f"{served.base}/slack/events", form.encode(), headers)
    assert answer.status == 401
    assert fake_slack.responses == []


@pytest.mark.parametrize("t", ["²", "¹²³", "+1795770000", "1795770000.5"])
def test_webhook_signature_with_a_non_ascii_timestamp_is_401(served: Client, t: str) -> None:
    body = event_body(event_id="evt_sig")
    header = f"t={t},v1={signing.signature(harness.WEBHOOK_SECRET, int(time.time()), body)}"
    answer = http(
        "POST",
        f"{served.base}/simsid/events",
        body,
        {"Content-Type": "application/json", signing.HEADER: header},
    )
    assert answer.status == 401


def test_signing_verify_refuses_non_ascii_digits() -> None:
    body = b"{}"
    assert not signing.verify("t=²,v1=00", body, [harness.WEBHOOK_SECRET])
    assert not signing.verify("t=¹²³,v1=00", body, [harness.WEBHOOK_SECRET])


def _raw_request(url: str, head: str) -> bytes:
    """Send only the request head (no body) and read whatever comes back."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT) as conn:
        conn.sendall(head.encode())
        chunks = []
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks):
                    break
        except TimeoutError:
            pass
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("path", "length"),
    [
        ("/slack/events", 900_000_000),
        ("/simsid/events", 900_000_000),
        ("/slack/events", 1024 * 1024 + 1),
        ("/simsid/events", 64 * 1024 + 1),
    ],
)
def test_an_announced_oversized_body_is_413_before_it_is_sent(
    served: Client, path: str, length: int
) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    answer = _raw_request(served.base, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_bodies_within_the_limits_still_pass(served: Client, fake_slack: FakeSlack) -> None:
    assert served.install(event_id="evt_ok").status == 202
    assert served.slash("help").status == 200


def test_the_error_handler_ignores_the_response_url_of_an_unverified_request(
    bot: BotApp, fake_slack: FakeSlack
) -> None:
    """Past the HTTP app (a future adapter, a test harness), Bolt's verifier still raises on
    a timestamp like "abc"; the error handler must not post where that body says."""
    from slack_bolt import BoltRequest

    form = _slash_form(fake_slack.response_url("forged"))
    request = BoltRequest(
        body=form,
        headers={
            "content-type": ["application/x-www-form-urlencoded"],
            "x-slack-request-timestamp": ["abc"],
            "x-slack-signature": ["v0=" + "0" * 64],
        },
    )
    response = bot.bolt.dispatch(request)
    assert response.status in (200, 401)
    harness.listeners_finished(bot)
    assert fake_slack.responses == []


def test_the_secret_goes_only_through_the_response_url(
    served: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    from sqlalchemy import select

    from bot.slack.ids import ActionId
    from store.models import AuditEntry
    from tests.faultkit import response_texts
    from tests.harness import buttons, install_and_wait

    message = install_and_wait(served, fake_slack)
    served.click(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"])
    assert fake_slack.wait_for(lambda: fake_slack.channel_messages(CHANNEL)[0]["edits"] >= 1)

    answer = served.slash("secret app-homework site-oak", response_name="the-secret")
    assert answer.status == 200
    # A replay of this signed request within its five minutes reads the HTTP answer.
    assert "ck_" not in answer.body.decode() and "secret" not in answer.json()["text"].lower()
    assert fake_slack.wait_for(lambda: bool(response_texts(fake_slack, "the-secret")))
    sent = response_texts(fake_slack, "the-secret")
    assert len(sent) == 1 and "ck_" in sent[0]
    reply = json.loads(sent[0])
    assert reply["response_type"] == "ephemeral"
    with bot.db.read() as session:
        viewed = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "secret_viewed")  # type: ignore[arg-type]
        ).all()
    assert len(viewed) == 1


@pytest.mark.parametrize("command", ["_init__", "one_app", "app_and_site", "nonsense"])
def test_a_paging_button_runs_only_known_subcommands(
    served: Client, fake_slack: FakeSlack, command: str
) -> None:
    """The command name in a paging button's value is the client's to choose: "_init__"
    named Commands.__init__ and re-initialised the bot's shared Commands object."""
    from bot.slack.ids import ActionId, encode_page
    from tests.faultkit import response_texts

    served.click(
        ActionId.PAGE, encode_page(command, "homework"), ephemeral=True, response_name="pg"
    )
    assert fake_slack.wait_for(lambda: bool(response_texts(fake_slack, "pg")))
    said = " ".join(response_texts(fake_slack, "pg"))
    assert "error id" not in said and "/simsid" in said
    assert served.slash("apps").status == 200
    assert "error id" not in served.slash("apps").body.decode()


def test_serve_refuses_an_announced_oversized_body_before_reading_it(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """`serve` as run in production (gunicorn), not the in-process server above."""
    from tests.conftest import TEST_KEY
    from tests.harness import ServerProcess, server_env

    env = server_env(fake_slack.api_url, f"sqlite:///{tmp_path / 'limits.db'}", TEST_KEY)
    server = ServerProcess(env, "--no-scheduler", log_path=tmp_path / "serve.log")
    try:
        for path in ("/slack/events", "/simsid/events"):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: localhost\r\n"
                "Content-Type: application/json\r\nContent-Length: 900000000\r\n\r\n"
            )
            answer = _raw_request(server.url, head)
            assert answer.startswith(b"HTTP/1.1 413"), (path, answer[:200])
        webhook = (
            "POST /simsid/events HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Type: application/json\r\nContent-Length: {64 * 1024 + 1}\r\n\r\n"
        )
        assert _raw_request(server.url, webhook).startswith(b"HTTP/1.1 413")
        # Still serving, and an unsigned Slack request is still a 401 here too.
        client = Client(server.url, fake_slack.response_url("x").rsplit("/", 1)[0])
        assert client.health().status == 200
        forged = _slash_form(fake_slack.response_url("forged"))
        headers = {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"}
        assert http("POST", f"{server.url}/slack/events", forged.encode(), headers).status == 401
    finally:
        assert server.terminate() == 0
    assert fake_slack.responses == []
