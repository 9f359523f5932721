"""Structured logs: LOG_FORMAT=json, and one click followed by its request id from the
HTTP edge through the follow-up, the outbox, the delivery and the upstream POST."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot import log_context, logging_setup
from bot.app import create_app
from bot.sandbox import slack_payloads
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from tests import harness
from tests.conftest import TEST_KEY, make_settings
from tests.faultkit import client_for, read_log
from tests.harness import (
    ADMIN,
    CHANNEL,
    TEAM_ID,
    ServerProcess,
    buttons,
    install_and_wait,
    wait_until,
)
from tests.test_upstream import UPSTREAM_SECRET

_FRESH_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of `text` as the JSON object it must be (a line that is not fails)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_parse_and_carry_the_fields() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.json_lines")
    handler = logging_setup.prepare(logging.StreamHandler(stream), "json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def within_a_request() -> None:
        log_context.USER.set("U0CLICKER")
        with log_context.bound(request_id="req-42", installation_id=7):
            logger.info("approved %s\nby %s", "app-homework", "someone")
            try:
                raise ValueError("bad\nthing")
            except ValueError:
                logger.exception("it failed")

    try:
        contextvars.Context().run(within_a_request)
        logger.warning("outside any request")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert len(text.splitlines()) == 3  # a message or a traceback never breaks a line
    approved, failed, outside = _json_lines(text)
    assert approved["message"] == "approved app-homework\nby someone"
    assert approved["level"] == "INFO" and approved["logger"] == "tests.json_lines"
    assert approved["pid"] == os.getpid()
    when = datetime.fromisoformat(approved["time"])
    assert when.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - when).total_seconds()) < 60
    for line in (approved, failed):
        assert line["request_id"] == "req-42"
        assert line["user"] == "U0CLICKER"
        assert line["installation_id"] == 7
    assert failed["level"] == "ERROR"
    assert "Traceback" in failed["exc"] and "ValueError: bad\nthing" in failed["exc"]
    assert "exc" not in approved
    assert not {"request_id", "user", "installation_id"} & set(outside)


# -- one click, followed ------------------------------------------------------------------


class _Upstream:
    """SIMSID_UPSTREAM_URL on loopback: answers 200 and keeps each POST's X-Request-Id."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.request_ids: list[str | None] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with upstream.cond:
                    upstream.request_ids.append(self.headers.get("X-Request-Id"))
                    upstream.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/decisions"

    def __enter__(self) -> _Upstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _click(base: str, fs: FakeSlack, message: dict[str, Any], request_id: str) -> harness.Response:
    """Approve, as Slack posts the click, with an X-Request-Id header."""
    payload = slack_payloads.block_actions(
        ActionId.APPROVE,
        buttons(message)[ActionId.APPROVE],
        user=ADMIN,
        team=TEAM_ID,
        channel=CHANNEL,
        message_ts=message["ts"],
        message={"ts": message["ts"], "type": "message"},
        response_url=fs.response_url("the-click"),
        trigger_id="trig.logs",
    )
    form = slack_payloads.payload_form(payload)
    headers = {**harness.slack_headers(form), "X-Request-Id": request_id}
    return harness.http("POST", f"{base}/slack/events", form.encode(), headers)


_DELIVERY, _UPSTREAM = "bot.background.delivery", "bot.simsid.upstream"


def _followed(text: str) -> set[str]:
    """The loggers of the complete lines logged under abc-123 so far."""
    return {
        line["logger"]
        for line in _json_lines(text.rpartition("\n")[0])
        if line.get("request_id") == "abc-123"
    }


def test_one_click_is_followed_by_its_request_id(fake_slack: FakeSlack, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with _Upstream() as upstream:
        env = harness.server_env(
            fake_slack.api_url,
            f"sqlite:///{tmp_path / 'logs.db'}",
            TEST_KEY,
            LOG_FORMAT="json",
            SIMSID_UPSTREAM_URL=upstream.url,
            SIMSID_UPSTREAM_SECRET=UPSTREAM_SECRET,
        )
        server = ServerProcess(env, "--no-scheduler", log_path=log)
        try:
            message = install_and_wait(client_for(server.url, fake_slack), fake_slack)
            answer = _click(server.url, fake_slack, message, "abc-123")
            assert answer.status == 200
            assert answer.headers.get("X-Request-Id") == "abc-123"
            with upstream.cond:
                assert upstream.cond.wait_for(lambda: "abc-123" in upstream.request_ids, 15)
            assert fake_slack.wait_for(
                lambda: (
                    set(buttons(fake_slack.find_message(CHANNEL, message["ts"]) or {}))
                    == {ActionId.DISABLE}
                )
            )
            # Each line is written just after its work: wait for the last two.
            assert wait_until(lambda: _followed(read_log(log)) >= {_DELIVERY, _UPSTREAM}, 15)
        finally:
            assert server.terminate() == 0

    lines = _json_lines(read_log(log))  # every line, gunicorn's own too
    ours = [line for line in lines if line.get("request_id") == "abc-123"]
    by_logger = {line["logger"]: line for line in ours}
    ack = by_logger["bot.web.wsgi"]
    assert ack["message"].startswith("POST /slack/events answered 200")
    follow_up = by_logger["bot.slack.operations"]
    assert follow_up["user"] == ADMIN and "approve done" in follow_up["message"]
    installation = follow_up["installation_id"]
    delivery = by_logger[_DELIVERY]  # the install message, refreshed
    assert delivery["installation_id"] == installation
    posted = by_logger[_UPSTREAM]
    assert posted["installation_id"] == installation and posted["message"].endswith("delivered")
    # The install that came before is a request of its own, followed to its message.
    [installed] = [line for line in lines if "/simsid/events answered 202" in line["message"]]
    assert installed["request_id"] != "abc-123"
    assert {"time", "level", "logger", "message", "pid"} <= set(installed)
    first_post = [
        line
        for line in lines
        if line["logger"] == _DELIVERY and line.get("request_id") == installed["request_id"]
    ]
    assert first_post and first_post[0]["installation_id"] == installation


@pytest.fixture
def served(fake_slack: FakeSlack, sqlite_url: str) -> Iterator[str]:
    bot = create_app(make_settings(fake_slack, sqlite_url))
    try:
        with harness.serving(bot, deliver=False) as base:
            yield base
    finally:
        bot.db.dispose()


@pytest.mark.parametrize(
    "given", ["abc 123", "a" * 65, "abc/123", "abc\u00e9", "", "x;rm -rf"], ids=repr
)
def test_a_bad_request_id_is_replaced(served: str, given: str) -> None:
    answer = harness.http("GET", f"{served}/healthz", headers={"X-Request-Id": given})
    assert answer.status == 200
    fresh = answer.headers.get("X-Request-Id")
    assert fresh is not None and fresh != given and _FRESH_ID.fullmatch(fresh)
    again = harness.http("GET", f"{served}/healthz", headers={"X-Request-Id": given})
    assert again.headers.get("X-Request-Id") != fresh  # a new one for every request


def test_a_sane_request_id_is_kept_and_one_is_made_without(served: str) -> None:
    kept = "Req_1.2-" + "x" * 56  # 64 characters
    answer = harness.http("GET", f"{served}/healthz", headers={"X-Request-Id": kept})
    assert answer.headers.get("X-Request-Id") == kept
    made = harness.http("GET", f"{served}/nowhere")
    assert made.status == 404 and _FRESH_ID.fullmatch(made.headers.get("X-Request-Id") or "")


def test_log_format_bogus_exits_2_naming_it(fake_slack: FakeSlack, tmp_path: Path) -> None:
    env = harness.server_env(
        fake_slack.api_url, f"sqlite:///{tmp_path / 'x.db'}", TEST_KEY, LOG_FORMAT="bogus"
    )
    done = subprocess.run(
        [*harness.bot_command(), "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "LOG_FORMAT" in done.stderr and "Traceback" not in done.stderr


def test_work_after_the_ack_and_its_late_answer_keep_the_request() -> None:
    """What a listener leaves for after its ack, and the callback answering once that work
    is done (a slow form's outcome), log under the request that asked."""
    pool = log_context.ContextExecutor(max_workers=2)
    called = threading.Event()
    seen: dict[str, str | None] = {}

    def late_answer(done: object) -> None:
        seen["callback"] = log_context.REQUEST_ID.get()
        called.set()

    def listener() -> Any:
        log_context.REQUEST_ID.set("req-late")
        gate = threading.Event()
        future = pool.submit(lambda: gate.wait(5) and log_context.REQUEST_ID.get())
        future.add_done_callback(late_answer)  # registered while the work still runs
        gate.set()
        return future

    try:
        future = contextvars.Context().run(listener)
        assert future.result(5) == "req-late"
        assert called.wait(5)
        assert seen["callback"] == "req-late"
        assert log_context.REQUEST_ID.get() is None  # nothing leaked out of the request
    finally:
        pool.shutdown(wait=True)


def test_text_lines_name_the_request_too() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.text_lines")
    handler = logging_setup.prepare(logging.StreamHandler(stream), "text")
    logger.addHandler(handler)
    logger.propagate = False

    def within_a_request() -> None:
        log_context.USER.set("U0CLICKER")
        logger.warning("clicked")

    try:
        with log_context.bound(request_id="req-7", installation_id=3):
            contextvars.copy_context().run(within_a_request)
        logger.warning("alone")
    finally:
        logger.removeHandler(handler)
    clicked, alone = stream.getvalue().splitlines()
    assert clicked.endswith(
        "WARNING tests.text_lines: clicked [request_id=req-7 user=U0CLICKER installation_id=3]"
    )
    assert alone.endswith("WARNING tests.text_lines: alone")
