"""A crash between the decision and its delivery loses nothing and sends nothing twice.

The bot runs as a real `python -m bot serve` process. The decision is made while the
receiver is down; the process is killed with SIGKILL (no shutdown code runs); the
receiver comes back; a new process on the same database delivers it exactly once.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from store import vault
from tests import harness
from tests.harness import CHANNEL, Client
from tests.test_upstream import UPSTREAM_SECRET, Receiver

START_TIMEOUT = 30.0  # seconds for a cold interpreter to import everything and listen
LISTENING = re.compile(r"simsid-bot listening on http://[^:]+:(\d+)")


def _env(fake: FakeSlack, database_url: str, upstream_url: str) -> dict[str, str]:
    # Start from a clean slate: nothing of the developer's own configuration leaks in.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "SIMSID_", "DATABASE_", "PORT", "LOG_"))
    }
    env.update(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=harness.SIGNING_SECRET,
        SLACK_API_URL=fake.api_url,
        DATABASE_URL=database_url,
        SIMSID_ENCRYPTION_KEYS=vault.generate_key(),
        SIMSID_WEBHOOK_SECRET=harness.WEBHOOK_SECRET,
        SIMSID_ADMINS=harness.ADMIN,
        SIMSID_DEFAULT_CHANNEL=CHANNEL,
        SIMSID_UPSTREAM_URL=upstream_url,
        SIMSID_UPSTREAM_SECRET=UPSTREAM_SECRET,
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


@contextmanager
def _serve(
    env: dict[str, str], cwd: Path, log: Path
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m bot serve --port 0 --no-scheduler`; yields the process and its base URL."""
    with log.open("a") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", "0", "--no-scheduler"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,  # killed as a group: the master and its workers
        )
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        port = None
        while port is None:
            remaining = deadline - time.monotonic()
            assert remaining > 0 and process.poll() is None, log.read_text()
            try:
                match = LISTENING.search(lines.get(timeout=min(remaining, 0.5)))
            except queue.Empty:
                continue
            port = match[1] if match else None
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        reader.join(5)  # it ends at EOF, once the process has gone
        process.stdout.close()


def _message(fake: FakeSlack) -> dict[str, object]:
    [message] = fake.channel_messages(CHANNEL)
    return message


def _approve_value(fake: FakeSlack) -> str:
    for block in _message(fake)["blocks"]:  # type: ignore[attr-defined]
        for element in block.get("elements", []):
            if element.get("action_id") == ActionId.APPROVE:
                return str(element["value"])
    raise AssertionError("no Approve button")


def test_decision_survives_sigkill_and_is_delivered_exactly_once(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'crash.db'}"
    log = tmp_path / "serve.log"
    with Receiver() as receiver:
        env = _env(fake_slack, database_url, receiver.url)
        receiver.down()  # refused from here on; the port is kept for later

        with _serve(env, tmp_path, log) as (process, url):
            client = Client(url, response_url_base=fake_slack.response_url("x").rsplit("/", 1)[0])
            assert client.install(event_id="evt_crash").status == 202
            assert fake_slack.wait_for(lambda: len(fake_slack.channel_messages(CHANNEL)) == 1)
            ts = str(_message(fake_slack)["ts"])
            assert (
                client.click(ActionId.APPROVE, _approve_value(fake_slack), message_ts=ts).status
                == 200
            )
            # The decision is committed and its first try has failed: the message says so.
            # Its next try is about a second away, so the kill lands between tries.
            assert fake_slack.wait_for(
                lambda: "Waiting to reach upstream: try" in str(_message(fake_slack)["blocks"]),
                15,
            ), log.read_text()
            age = client.health().json()["oldest_undelivered_decision_seconds"]
            assert age is not None and age >= 0
            os.killpg(process.pid, signal.SIGKILL)  # no clean-up, no flush, no goodbye
            process.wait(10)

        receiver.up()
        assert receiver.seen == []  # nothing reached it while it was down

        with _serve(env, tmp_path, log) as (_process, url):
            client = Client(url)
            assert receiver.wait_for(lambda: len(receiver.stored) == 1, 15), log.read_text()
            assert fake_slack.wait_for(
                lambda: "Applied upstream" in str(_message(fake_slack)["blocks"]), 15
            )
            assert harness.wait_until(
                lambda: client.health().json()["oldest_undelivered_decision_seconds"] is None,
                10,
                interval=0.05,
            ), "the decision is still undelivered"
        # Leaving `_serve` stopped the process with SIGTERM, which waits for a send in flight:
        # a second copy would have reached the receiver by now.

        [body] = receiver.stored
        assert body["type"] == "installation.enabled"
        assert body["actor"] == {"slack_user": harness.ADMIN}
        assert len(receiver.seen) == 1 and receiver.seen[0].valid  # exactly once, signed
