"""Decisions going out: every change reaches SIMSID_UPSTREAM_URL once, in order, signed.

Slack's and SIMS ID's requests reach the bot in process (signed), and it talks to
FakeSlack; `Receiver`, over real HTTP, stands in for the system that moves the data. It
verifies each request's `X-SimsId-Signature`, records what it stored in order, and can
be told to fail (down, 5xx, 429 with Retry-After, too slow, 400).
"""

from __future__ import annotations

import io
import itertools
import json
import re
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from sqlalchemy import select
from sqlmodel import col

from bot.app import BotApp, create_app
from bot.background.delivery import Delivery
from bot.background.timing import Throttled, Timings
from bot.cli.importer import ingest_file
from bot.cli.outbox import show_outbox
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.loopback import Loopback
from bot.simsid import signing, upstream
from bot.simsid.upstream import UpstreamSender
from bot.slack.ids import ActionId
from store import applications, decisions, outbox, queries
from store.backoff import Backoff
from store.backoff import backoff as DOUBLING
from store.db import Database
from store.lifecycle import Action, Lifecycle
from store.models import OutboxItem, OutboxKind
from tests.conftest import make_settings
from tests.factories import act, install
from tests.faultkit import response_texts, wait_until
from tests.harness import ADMIN, CHANNEL, OUTSIDER, Client, event_body, in_process

UPSTREAM_SECRET = "upsec_4e8b2f6a9d1c7053"
# Lower than the receiver's slow answers, so "slow" means "timed out" here.
SENDER_TIMEOUT = 0.3
SLOW_SECONDS = 0.6
WAIT = 10.0  # seconds any one expected thing may take before the test fails
# What an outbound event holds (docs/upstream.md): no secret.
EVENT_FIELDS = {
    "id",
    "type",
    "occurred_at",
    "actor",
    "application",
    "site",
    "client_key",
    "reason",
    "actor_email",
}


# -- the receiver ------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as it arrived: raw bytes on the wire, and what the receiver answered."""

    at: float
    raw: bytes
    header: str | None  # X-SimsId-Signature as sent
    valid: bool  # the signature verified with UPSTREAM_SECRET
    status: int
    decision_id: str | None


class Receiver:
    """A stand-in for SIMSID_UPSTREAM_URL on 127.0.0.1.

    `stored` holds each body the receiver answered 2xx to, in arrival order; it does not
    de-duplicate, so a decision sent again after its acknowledgement would show twice.
    `seen` holds every request. `down()` closes the listening socket (connections are
    refused) and `up()` listens again on the same port.
    """

    def __init__(self, secret: str = UPSTREAM_SECRET) -> None:
        self.secret = secret
        self.cond = threading.Condition()
        self.stored: list[dict[str, Any]] = []
        self.seen: list[Seen] = []
        self._status = 200
        self._retry_after: str | None = None
        self._slow: float | None = None
        self._slow_status = 503
        self._loopback = Loopback(lambda address: ThreadingHTTPServer(address, _make_handler(self)))

    # -- switching faults ---------------------------------------------------------

    def accept(self) -> None:
        """Answer 200 at once and store."""
        with self.cond:
            self._status, self._retry_after, self._slow = 200, None, None

    def fail(self, status: int, retry_after: str | None = None) -> None:
        """Answer `status` (with Retry-After if given) and store nothing."""
        with self.cond:
            self._status, self._retry_after, self._slow = status, retry_after, None

    def slow(self, seconds: float = SLOW_SECONDS, status: int = 503) -> None:
        """Wait `seconds` before answering `status` (storing only if it is 2xx)."""
        with self.cond:
            self._slow, self._slow_status, self._status = seconds, status, status

    def down(self) -> None:
        self._loopback.down()

    def up(self) -> None:
        self._loopback.up()

    def __enter__(self) -> Receiver:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    @property
    def url(self) -> str:
        assert self._loopback.port, "call up() first"
        return f"http://127.0.0.1:{self._loopback.port}/decisions"

    # -- what arrived ---------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def stored_ids(self) -> list[str]:
        with self.cond:
            return [body["id"] for body in self.stored]

    def tries_of(self, decision_id: str) -> list[Seen]:
        with self.cond:
            return [s for s in self.seen if s.decision_id == decision_id]

    # -- called from the server's threads -----------------------------------------------

    def _answer(self, header: str | None, raw: bytes) -> tuple[int, dict[str, str], float]:
        valid = signing.verify(header, raw, [self.secret])
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        decision_id = body.get("id") if isinstance(body, dict) else None
        with self.cond:
            status = self._status if valid else 401
            headers = {"Retry-After": self._retry_after} if self._retry_after else {}
            delay = self._slow or 0.0
            self.seen.append(Seen(time.monotonic(), raw, header, valid, status, decision_id))
            if valid and 200 <= status < 300 and isinstance(body, dict):
                self.stored.append(body)
            self.cond.notify_all()
        return status, headers, delay


def _make_handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, delay = receiver._answer(self.headers.get(signing.HEADER), raw)
            if delay:
                time.sleep(delay)  # the sender has given up by now
            answer = b'{"status":"stored"}' if status < 300 else b'{"error":"not stored"}'
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass  # the sender timed out and closed the connection

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# -- fixtures and helpers ----------------------------------------------------------


# Seconds become tens of milliseconds: backoff, polling and Slack pacing.
FAST = Timings(
    poll_seconds=0.05,
    channel_interval=timedelta(milliseconds=20),
    backoff=Backoff(first=0.05, cap=0.4),
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _bot(fake: FakeSlack, url: str, receiver: Receiver, timings: Timings = FAST) -> BotApp:
    settings = make_settings(
        fake, url, simsid_upstream_url=receiver.url, simsid_upstream_secret=UPSTREAM_SECRET
    )
    bot = create_app(settings, timings=timings)
    assert bot.delivery.upstream is not None
    bot.delivery.upstream.timeout = SENDER_TIMEOUT
    return bot


@pytest.fixture
def bot(fake_slack: FakeSlack, db_url: str, receiver: Receiver) -> Iterator[BotApp]:
    """The bot with SIMSID_UPSTREAM_URL set, on SQLite and (when configured) PostgreSQL."""
    app = _bot(fake_slack, db_url, receiver)
    yield app
    app.delivery.stop()
    app.db.dispose()


@pytest.fixture
def client(bot: BotApp, fake_slack: FakeSlack) -> Iterator[Client]:
    with in_process(bot, fake_slack) as client:
        yield client


def _buttons(blocks: Any) -> dict[str, str]:
    """action_id -> value of every button anywhere in `blocks`."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "button" and "action_id" in node:
                found[node["action_id"]] = node.get("value", "")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


@dataclass(frozen=True)
class Posted:
    """An installation and its message in the channel."""

    id: int
    ts: str


def _installed(bot: BotApp, fake: FakeSlack, app_id: str, site_id: str) -> Posted:
    """Wait for the installation's message to be posted; its id and ts."""
    found: dict[str, Any] = {}

    def posted() -> bool:
        with bot.db.read() as session:
            info = queries.find_installation(session, app_id, site_id)
        if info is None or info.message_ts is None:
            return False
        found["posted"] = Posted(info.id, info.message_ts)
        return fake.find_message(CHANNEL, info.message_ts) is not None

    assert _eventually(posted), f"no message for {app_id} at {site_id}"
    result: Posted = found["posted"]
    return result


def _install(client: Client, bot: BotApp, fake: FakeSlack, **fields: Any) -> Posted:
    answer = client.install(**fields)
    assert answer.status == 202, answer.body
    return _installed(
        bot, fake, fields.get("app_id", "app-homework"), fields.get("site_id", "site-oak")
    )


def _message(fake: FakeSlack, posted: Posted) -> dict[str, Any]:
    message = fake.find_message(CHANNEL, posted.ts)
    assert message is not None
    return message


def _text(fake: FakeSlack, posted: Posted) -> str:
    return json.dumps(_message(fake, posted)["blocks"], ensure_ascii=False)


def _click(client: Client, fake: FakeSlack, posted: Posted, action: ActionId) -> None:
    """Press a button of the installation's message and wait for the message to change."""
    before = _buttons(_message(fake, posted)["blocks"])
    assert action in before, f"{action} not offered: {sorted(before)}"
    if action in (ActionId.DISABLE, ActionId.REMOVE):
        answer = client.decide(fake, action, before[action], f"why {action}", message_ts=posted.ts)
    else:
        answer = client.click(action, before[action], message_ts=posted.ts)
    assert answer.status == 200
    assert fake.wait_for(lambda: _buttons(_message(fake, posted)["blocks"]) != before, WAIT)


def _eventually(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    return wait_until(predicate, timeout, interval=0.02)


def _waiting_tries(text: str) -> int:
    match = re.search(r"Waiting to reach upstream: try (\d+)", text)
    return int(match[1]) if match else 0


def _sequences(bodies: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """(application id, site id) -> the decision types it received, in order."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for body in bodies:
        out[_key(body)].append(body["type"].removeprefix("installation."))
    return dict(out)


def _key(body: dict[str, Any]) -> tuple[str, str]:
    return body["application"]["id"], body["site"]["id"]


def _oldest_undelivered(client: Client) -> float | None:
    answer = client.health()
    assert answer.status == 200, answer.body
    value: float | None = answer.json()["oldest_undelivered_decision_seconds"]
    return value


def _upstream_rows(bot: BotApp, installation_id: int) -> list[OutboxItem]:
    with bot.db.read() as session:
        return list(
            session.scalars(
                select(OutboxItem)
                .where(
                    col(OutboxItem.installation_id) == installation_id,
                    col(OutboxItem.kind) == OutboxKind.UPSTREAM,
                )
                .order_by(col(OutboxItem.id))
            )
        )


def _jsonl(path: Path, *bodies: bytes) -> Path:
    path.write_text("\n".join(b.decode() for b in bodies) + "\n", encoding="utf-8")
    return path


def _claimed() -> outbox.Claimed:
    """A decision as the delivery loop hands it to the sender."""
    return outbox.Claimed(
        id=1,
        kind=OutboxKind.UPSTREAM,
        installation_id=1,
        channel=None,
        payload={"id": "dec_1", "type": "installation.enabled"},
        generation=1,
        attempts=0,
        created_at=datetime.now(UTC),
    )


def _later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


# -- the tests ---------------------------------------------------------------------


def test_backoff_is_about_a_second_doubling_capped_at_five_minutes() -> None:
    assert [DOUBLING(n) for n in range(1, 12)] == [2**k for k in range(9)] + [300, 300]


def test_every_change_from_every_surface_arrives_once_in_order_signed(
    client: Client, bot: BotApp, fake_slack: FakeSlack, receiver: Receiver, tmp_path: Path
) -> None:
    # Buttons: approve, disable, enable, disable, remove.
    oak = _install(client, bot, fake_slack, event_id="evt_oak")
    assert _upstream_rows(bot, oak.id) == []  # pending is not a decision
    _click(client, fake_slack, oak, ActionId.APPROVE)
    reply = client.private_reply(fake_slack, "secret homework-hub oakfield primary")
    key = re.search(r"ck_[A-Za-z0-9_-]{24}", str(reply))
    secret = re.search(r"`([A-Za-z0-9_-]{43})`", str(reply))
    assert key and secret, reply
    for action in (ActionId.DISABLE, ActionId.ENABLE, ActionId.DISABLE, ActionId.REMOVE):
        _click(client, fake_slack, oak, action)

    # "Disable all" for a customer with two enabled applications.
    elm = {"site_id": "site-elm", "site_name": "Elm Academy", "urn": "654321"}
    homework_elm = _install(client, bot, fake_slack, event_id="evt_hw_elm", **elm)
    reading_elm = _install(
        client,
        bot,
        fake_slack,
        event_id="evt_rd_elm",
        app_id="app-reading",
        app_name="Reading Rocket",
        **elm,
    )
    _click(client, fake_slack, homework_elm, ActionId.APPROVE)
    _click(client, fake_slack, reading_elm, ActionId.APPROVE)
    listing = client.slash("customer site-elm").json()
    disable_all = _buttons(listing["blocks"])[ActionId.DISABLE_ALL]
    assert (
        client.decide(fake_slack, ActionId.DISABLE_ALL, disable_all, ephemeral=True).status == 200
    )
    assert fake_slack.wait_for(
        lambda: (
            ActionId.ENABLE in _buttons(_message(fake_slack, reading_elm)["blocks"])
            and ActionId.ENABLE in _buttons(_message(fake_slack, homework_elm)["blocks"])
        ),
        WAIT,
    )

    # An application that bypasses authentication is enabled at once; then the site
    # uninstalls it in SIMS ID.
    with bot.db.session() as session:
        applications.register(session, app_id="app-fast", name="Fast Track", bypass_auth=True)
    fast_oak = _install(client, bot, fake_slack, event_id="evt_fast", app_id="app-fast")
    removed = client.install(
        event_id="evt_fast_gone",
        app_id="app-fast",
        app_name="Fast Track",
        type_="installation.removed",
        occurred_at=_later(1),
    )
    assert removed.status == 202
    assert fake_slack.wait_for(lambda: not _buttons(_message(fake_slack, fast_oak)["blocks"]))

    # A bulk import with --notify: a bypass install, and a removal from SIMS ID.
    notified = _jsonl(
        tmp_path / "notify.jsonl",
        event_body(
            event_id="imp_1",
            app_id="app-fast",
            app_name="Fast Track",
            site_id="site-ash",
            site_name="Ash Lane",
            urn=None,
        ),
        event_body(
            event_id="imp_2",
            app_id="app-reading",
            app_name="Reading Rocket",
            type_="installation.removed",
            occurred_at=_later(5),
            **elm,
        ),
    )
    lifecycle = Lifecycle(upstream=True, default_channel=CHANNEL)
    report = ingest_file(bot.db, lifecycle, notified, notify=True)
    assert (report.new, report.rejected) == (2, [])
    bot.delivery.nudge()

    expected = {
        ("app-homework", "site-oak"): ["enabled", "disabled", "enabled", "disabled", "removed"],
        ("app-homework", "site-elm"): ["enabled", "disabled"],
        ("app-reading", "site-elm"): ["enabled", "disabled", "removed"],
        ("app-fast", "site-oak"): ["enabled", "removed"],
        ("app-fast", "site-ash"): ["enabled"],
    }
    total = sum(len(types) for types in expected.values())
    assert receiver.wait_for(lambda: len(receiver.stored) >= total), receiver.stored_ids()

    # An import without --notify changes state but sends nothing (and posts nothing).
    silent = _jsonl(
        tmp_path / "silent.jsonl",
        event_body(
            event_id="imp_3",
            app_id="app-fast",
            app_name="Fast Track",
            site_id="site-birch",
            site_name="Birch Hill",
            urn=None,
        ),
    )
    assert ingest_file(bot.db, lifecycle, silent, notify=False).new == 1
    with bot.db.read() as session:
        birch = queries.find_installation(session, "app-fast", "site-birch")
    assert birch is not None and birch.state == "enabled"
    assert _upstream_rows(bot, birch.id) == []
    assert _eventually(lambda: _oldest_undelivered(client) is None)
    assert bot.delivery.wait_idle(WAIT)  # nothing more may arrive

    with receiver.cond:
        stored, seen = list(receiver.stored), list(receiver.seen)
    assert len(stored) == total
    assert _sequences(stored) == expected
    ids = [body["id"] for body in stored]
    assert len(set(ids)) == len(ids) and all(i.startswith("dec_") for i in ids)
    assert all(s.valid and s.status == 200 for s in seen)  # signed, and sent once each
    for body in stored:
        assert set(body) == EVENT_FIELDS, body
        if body["type"] == "installation.enabled":
            assert re.fullmatch(r"ck_[A-Za-z0-9_-]{24}", body["client_key"]), body
    homework_oak = [b for b in stored if _key(b) == ("app-homework", "site-oak")]
    assert len(homework_oak) == 5
    assert {b["client_key"] for b in homework_oak} == {key[0]}
    assert {json.dumps(b["actor"]) for b in homework_oak} == {json.dumps({"slack_user": ADMIN})}
    assert homework_oak[0]["site"] == {
        "id": "site-oak",
        "name": "Oakfield Primary",
        "urn": "123456",
        "dfe_number": "823/4001",
    }
    # Each decision carries the reason typed into its Disable or Remove form.
    assert [b["reason"] for b in homework_oak] == [
        None,
        f"why {ActionId.DISABLE}",
        None,
        f"why {ActionId.DISABLE}",
        f"why {ActionId.REMOVE}",
    ]
    fast = [b for b in stored if b["application"]["id"] == "app-fast"]
    assert all("slack_user" not in b["actor"] for b in fast)
    # The secret never goes out, on the wire or anywhere in a body.
    assert all(secret[1].encode() not in s.raw for s in seen)
    assert all(b"secret" not in s.raw.lower() for s in seen)
    # The install messages say the latest decision was applied.
    assert fake_slack.wait_for(lambda: "Applied upstream" in _text(fake_slack, oak), WAIT)


FAULTS: dict[str, Callable[[Receiver], None]] = {
    "down": Receiver.down,
    "500": lambda r: r.fail(500),
    "429": lambda r: r.fail(429, retry_after="1"),
    "slow": lambda r: r.slow(),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_receiver_faults_lose_nothing_duplicate_nothing_and_keep_order(
    fault: str, client: Client, bot: BotApp, fake_slack: FakeSlack, receiver: Receiver
) -> None:
    homework = _install(client, bot, fake_slack, event_id="evt_hw")
    reading = _install(
        client, bot, fake_slack, event_id="evt_rd", app_id="app-reading", app_name="Reading"
    )
    FAULTS[fault](receiver)
    _click(client, fake_slack, homework, ActionId.APPROVE)
    _click(client, fake_slack, reading, ActionId.APPROVE)
    _click(client, fake_slack, homework, ActionId.DISABLE)
    _click(client, fake_slack, homework, ActionId.ENABLE)

    # The message says the decision is waiting, with its tries and the last error; one
    # queued behind an earlier decision of its installation is waiting, not yet tried.
    assert fake_slack.wait_for(lambda: _waiting_tries(_text(fake_slack, reading)) >= 2, WAIT)
    assert "last error:" in _text(fake_slack, reading)
    assert "Waiting to reach upstream" in _text(fake_slack, homework)
    assert (_oldest_undelivered(client) or 0) > 0
    if fault == "429":
        # Retry-After is honoured: a second apart, not the (fast) backoff's 50 ms.
        first = _upstream_rows(bot, homework.id)[0].payload
        assert first is not None
        assert _eventually(lambda: len(receiver.tries_of(first["id"])) >= 2)
        tries = receiver.tries_of(first["id"])
        assert all(b.at - a.at >= 0.9 for a, b in itertools.pairwise(tries))

    if fault == "down":
        receiver.up()
    else:
        receiver.accept()
    assert receiver.wait_for(lambda: len(receiver.stored) >= 4)
    assert fake_slack.wait_for(lambda: "Applied upstream" in _text(fake_slack, homework), WAIT)
    assert fake_slack.wait_for(lambda: "Applied upstream" in _text(fake_slack, reading), WAIT)
    assert _eventually(lambda: _oldest_undelivered(client) is None)
    assert bot.delivery.wait_idle(WAIT)

    with receiver.cond:
        stored, seen = list(receiver.stored), list(receiver.seen)
    ids = [b["id"] for b in stored]
    assert len(ids) == len(set(ids)) == 4  # nothing lost, nothing twice
    assert _sequences(stored) == {
        ("app-homework", "site-oak"): ["enabled", "disabled", "enabled"],
        ("app-reading", "site-oak"): ["enabled"],
    }
    # Order held on every try, not only in what was stored: a later decision of an
    # installation was never sent before the earlier one was acknowledged.
    rows = _upstream_rows(bot, homework.id)
    order = {(row.payload or {})["id"]: n for n, row in enumerate(rows)}
    sent = [order[s.decision_id] for s in seen if s.decision_id in order]
    assert sent == sorted(sent)
    assert all(s.valid for s in seen)


def test_refused_decision_fails_after_bounded_tries_and_admin_retries_it(
    client: Client,
    bot: BotApp,
    fake_slack: FakeSlack,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    posted = _install(client, bot, fake_slack, event_id="evt_400")
    receiver.fail(400)
    _click(client, fake_slack, posted, ActionId.APPROVE)

    def retry_button() -> str | None:
        return _buttons(_message(fake_slack, posted)["blocks"]).get(ActionId.RETRY_UPSTREAM)

    assert fake_slack.wait_for(lambda: retry_button() is not None, WAIT)
    assert "Upstream refused this decision: HTTP 400" in _text(fake_slack, posted)
    [row] = _upstream_rows(bot, posted.id)
    assert row.failed and row.payload is not None
    decision_id = row.payload["id"]
    assert bot.delivery.wait_idle(WAIT)  # given up: no more tries come
    assert len(receiver.tries_of(decision_id)) == upstream.PERMANENT_FAILURE_TRIES
    # Given up, it is still undelivered: /healthz must not say nothing is waiting.
    assert client.health().json()["refused_decisions"] == 1
    assert _oldest_undelivered(client) is not None

    assert show_outbox(bot.db, retry=None) == 0
    listing = capsys.readouterr().out
    assert re.search(
        rf"^{row.id}\s+{posted.id}\s+Homework Hub.*enabled\s+failed\s+"
        rf"{upstream.PERMANENT_FAILURE_TRIES}\s+HTTP 400",
        listing,
        re.M,
    ), listing

    value = retry_button()
    assert value is not None
    # Only admins may retry.
    client.click(
        ActionId.RETRY_UPSTREAM,
        value,
        user=OUTSIDER,
        message_ts=posted.ts,
        response_name="outsider-retry",
    )
    assert fake_slack.wait_for(lambda: bool(response_texts(fake_slack, "outsider-retry")), WAIT)
    assert bot.delivery.wait_idle(WAIT)
    assert len(receiver.tries_of(decision_id)) == upstream.PERMANENT_FAILURE_TRIES
    # Nor may an approver of another application: they are told who may.
    with bot.db.session() as session:
        applications.register(session, app_id="app-other", name="Other")
        applications.set_approvers(session, "app-other", ["UOTHERAPP"])
    client.click(
        ActionId.RETRY_UPSTREAM,
        value,
        user="UOTHERAPP",
        message_ts=posted.ts,
        response_name="approver-retry",
    )
    assert fake_slack.wait_for(lambda: bool(response_texts(fake_slack, "approver-retry")), WAIT)
    assert (
        "Only the bot's admins can do this for Homework Hub"
        in (response_texts(fake_slack, "approver-retry")[0])
    )
    assert bot.delivery.wait_idle(WAIT)
    assert len(receiver.tries_of(decision_id)) == upstream.PERMANENT_FAILURE_TRIES

    receiver.accept()
    answer = client.click(ActionId.RETRY_UPSTREAM, value, user=ADMIN, message_ts=posted.ts)
    assert answer.status == 200
    assert fake_slack.wait_for(lambda: "Applied upstream" in _text(fake_slack, posted), WAIT)
    assert retry_button() is None
    assert receiver.stored_ids() == [decision_id]
    assert client.health().json()["refused_decisions"] == 0
    assert _oldest_undelivered(client) is None

    # The same (now stale) Retry button again: nothing is sent twice.
    client.click(ActionId.RETRY_UPSTREAM, value, user=ADMIN, message_ts=posted.ts)
    assert bot.delivery.wait_idle(WAIT)
    assert receiver.stored_ids() == [decision_id]
    assert len(receiver.tries_of(decision_id)) == upstream.PERMANENT_FAILURE_TRIES + 1


def test_outbox_command_lists_waiting_and_failed_and_retries(
    client: Client,
    bot: BotApp,
    fake_slack: FakeSlack,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    homework = _install(client, bot, fake_slack, event_id="evt_hw")
    receiver.down()
    _click(client, fake_slack, homework, ActionId.APPROVE)
    _click(client, fake_slack, homework, ActionId.DISABLE)
    first, second = (row.id for row in _upstream_rows(bot, homework.id))
    assert _eventually(lambda: _upstream_rows(bot, homework.id)[0].attempts >= 2)

    assert show_outbox(bot.db, retry=None) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "INSTALLATION", "APP", "SITE"]
    row = (
        rf"{first}\s+{homework.id}\s+Homework Hub \(app-homework\)\s+Oakfield Primary \(site-oak\)"
    )
    assert re.match(rf"{row}\s+enabled\s+(waiting|sending)", lines[1]), out
    assert "Connection refused" in lines[1] or "ConnectionRefused" in lines[1], out
    assert re.match(rf"{second}\s+.*disabled\s+waiting, after {first}\s+0\s+-\s+\d+s", lines[2])
    assert "2 not applied upstream: 2 waiting" in out or "being sent" in out

    # Unknown id: a message and exit status 2.
    assert show_outbox(bot.db, retry=999_999) == 2
    assert "no upstream decision has id 999999" in capsys.readouterr().err

    # A waiting decision can be retried now (it still goes first for its installation).
    assert show_outbox(bot.db, retry=second) == 0
    out = capsys.readouterr().out
    what = "installation.disabled: Homework Hub at Oakfield Primary"
    assert f"decision {second} ({what}) will be sent now" in out
    assert f"after decision {first}" in out

    receiver.up()
    assert receiver.wait_for(lambda: len(receiver.stored) == 2)
    assert _sequences(receiver.stored) == {("app-homework", "site-oak"): ["enabled", "disabled"]}
    assert _eventually(lambda: _oldest_undelivered(client) is None)
    assert show_outbox(bot.db, retry=first) == 1
    assert "was already applied upstream" in capsys.readouterr().out
    assert show_outbox(bot.db, retry=None) == 0
    assert "no decisions waiting to reach upstream" in capsys.readouterr().out

    # A refused decision that a newer one has overtaken is not resent: it would arrive
    # after the newer one and undo it upstream.
    receiver.fail(400)
    _click(client, fake_slack, homework, ActionId.ENABLE)
    [*_, refused] = _upstream_rows(bot, homework.id)
    assert _eventually(lambda: _upstream_rows(bot, homework.id)[-1].failed)
    assert show_outbox(bot.db, retry=None) == 0
    assert re.search(rf"^{refused.id}\s.*enabled\s+failed\s", capsys.readouterr().out, re.M)
    receiver.accept()
    _click(client, fake_slack, homework, ActionId.DISABLE)
    assert receiver.wait_for(lambda: len(receiver.stored) == 3)
    assert _eventually(lambda: _oldest_undelivered(client) is None)
    assert show_outbox(bot.db, retry=refused.id) == 1
    assert "superseded by decision" in capsys.readouterr().out
    assert show_outbox(bot.db, retry=None) == 0
    assert "no decisions waiting" in capsys.readouterr().out
    assert bot.delivery.wait_idle(WAIT)
    assert _sequences(receiver.stored) == {
        ("app-homework", "site-oak"): ["enabled", "disabled", "disabled"]
    }


def test_two_delivery_loops_never_send_a_decision_twice(
    fake_slack: FakeSlack,
    sqlite_url: str,
    receiver: Receiver,
) -> None:
    """Two processes share the outbox; a batch that outlasts a claim is not sent twice (the
    heartbeat renews the live loop's claims, and each item's claim is renewed before it
    is sent)."""
    # One claimed batch takes longer than a claim lasts: 10 decisions at 0.15 s each
    # (10, not more: under BURST_THRESHOLD, so each install still gets its own message).
    decisions_made = 10
    timings = replace(FAST, claim_seconds=1.0)
    receiver.slow(0.15, status=200)
    first = _bot(fake_slack, sqlite_url, receiver, timings)
    second_db = Database(sqlite_url)
    second = Delivery(
        db=second_db,
        client=first.client,
        tz=first.settings.tz,
        default_channel=CHANNEL,
        upstream=UpstreamSender(receiver.url, UPSTREAM_SECRET, timeout=2.0),
        timings=timings,
    )
    assert first.delivery.upstream is not None
    first.delivery.upstream.timeout = 2.0
    try:
        with in_process(first, fake_slack, deliver=False) as client:
            with first.db.session() as session:
                applications.register(session, app_id="app-fast", name="Fast", bypass_auth=True)
            for n in range(decisions_made):
                answer = client.install(
                    event_id=f"evt_{n}",
                    app_id="app-fast",
                    site_id=f"site-{n}",
                    site_name=f"School {n}",
                )
                assert answer.status == 202
            first.delivery.start()
            second.start()
            assert receiver.wait_for(lambda: len(receiver.stored) >= decisions_made)
            assert _eventually(lambda: _oldest_undelivered(client) is None)
            # Both loops idle with nothing left undone: neither holds a claim to send again.
            assert first.delivery.wait_idle(WAIT) and second.wait_idle(WAIT)
    finally:
        second.stop()
        second_db.dispose()
        first.delivery.stop()
        first.db.dispose()
    ids = receiver.stored_ids()
    assert len(ids) == len(set(ids)) == decisions_made


def test_sender_treats_redirects_and_cut_answers_as_not_delivered() -> None:
    """A redirect is not a delivery, and a connection cut mid-answer is a retry."""

    class Odd(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"cut short")
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

        def do_GET(self) -> None:  # where a followed redirect would land
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Odd)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    item = _claimed()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        moved = UpstreamSender(f"{base}/moved", UPSTREAM_SECRET, timeout=2).send(item)
        assert not moved.delivered and moved.error == "HTTP 302"
        assert moved.give_up_after is None  # not a refusal: retried with backoff
        cut = UpstreamSender(f"{base}/cut", UPSTREAM_SECRET, timeout=2).send(item)
        assert not cut.delivered and cut.error and "IncompleteRead" in cut.error
    finally:
        server.shutdown()
        server.server_close()


def test_the_readme_verification_snippet_accepts_real_events_and_rejects_forgeries(
    client: Client, bot: BotApp, fake_slack: FakeSlack, receiver: Receiver
) -> None:
    doc = (Path(__file__).parent.parent / "docs" / "upstream.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?)```", doc, re.S)
    assert snippet is not None
    code = snippet[1]
    assert len(code.strip().splitlines()) <= 10
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/upstream.md", "exec"), namespace)
    verify = namespace["verify"]

    posted = _install(client, bot, fake_slack, event_id="evt_doc")
    _click(client, fake_slack, posted, ActionId.APPROVE)
    assert receiver.wait_for(lambda: len(receiver.stored) == 1)
    [seen] = receiver.seen
    assert seen.header is not None and re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", seen.header)
    assert verify(seen.header, seen.raw, UPSTREAM_SECRET)
    assert not verify(seen.header, seen.raw.replace(b"enabled", b"disabled"), UPSTREAM_SECRET)
    assert not verify(seen.header, seen.raw, "another-secret")
    assert not verify("", seen.raw, UPSTREAM_SECRET)
    stale = signing.sign(UPSTREAM_SECRET, seen.raw, timestamp=int(time.time()) - 301)
    assert not verify(stale, seen.raw, UPSTREAM_SECRET)


@pytest.mark.parametrize(
    ("retry_after", "expected"), [("0", 1.0), ("7", 7.0), ("86400", 300.0), (None, None)]
)
def test_retry_after_is_honoured_within_one_second_to_five_minutes(
    receiver: Receiver, retry_after: str | None, expected: float | None
) -> None:
    receiver.fail(503, retry_after=retry_after)
    result = UpstreamSender(receiver.url, UPSTREAM_SECRET, timeout=2).send(_claimed())
    assert (result.delivered, result.error, result.retry_after) == (False, "HTTP 503", expected)
    assert result.give_up_after is None


def test_decisions_listing_is_empty_without_upstream(sqlite_db: Database) -> None:
    with sqlite_db.read() as session:
        assert decisions.outstanding(session).decisions == ()
    out = io.StringIO()
    assert show_outbox(sqlite_db, retry=None, out=out) == 0
    assert out.getvalue().strip() == "no decisions waiting to reach upstream"


@pytest.mark.parametrize(
    ("header", "expected"), [("0", 1.0), ("7", 7.0), ("86400", 300.0), (None, 1.0), ("x", 1.0)]
)
def test_slack_retry_after_is_clamped_as_the_upstream_one_is(
    header: str | None, expected: float
) -> None:
    """One rule for Retry-After: Slack's 429 waits at least a second, at most five minutes."""
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": "ratelimited"},
        headers={} if header is None else {"Retry-After": header},
        status_code=429,
    )
    throttled = Throttled.from_error(SlackApiError("ratelimited", response))
    assert throttled is not None and throttled.retry_after == expected


def test_a_stopped_delivery_still_sends_the_decisions_due(bot: BotApp, receiver: Receiver) -> None:
    """As on the Slack lane: stop() ends the loops, and a drain after it sends a decision
    upstream instead of claiming it and giving it back unsent."""
    bot.delivery.start()
    bot.delivery.stop()
    assert not bot.delivery.running()
    oak = install(bot.db, bot.lifecycle)
    act(bot.db, oak, Action.APPROVE, lifecycle=bot.lifecycle)
    bot.delivery.drain()
    assert [body["type"] for body in receiver.stored] == ["installation.enabled"]
