"""A slow or huge upstream receiver holds up nothing but its own decisions.

`Upstream` stands in for SIMSID_UPSTREAM_URL on 127.0.0.1, over real HTTP. It can trickle
its answer a byte at a time (the status line and headers, or a body announced as 1 GB),
send a huge body as fast as the sender takes it, or accept. It counts the bytes it
managed to send and sees when the sender closes the connection.
"""

from __future__ import annotations

import json
import socket
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from bot.app import BotApp, create_app
from bot.sandbox.fake_slack import FakeSlack
from bot.simsid import signing
from bot.simsid.upstream import UpstreamSender
from store import applications
from store.models import OutboxItem, OutboxKind
from tests.conftest import make_settings
from tests.harness import Client, in_process
from tests.test_upstream import FAST, UPSTREAM_SECRET, WAIT, _claimed, _installed

TRICKLE_SECONDS = 0.02  # between two bytes of a trickled answer
HUGE = 64 * 1024 * 1024  # bytes of the fast huge answer
CHUNK = 64 * 1024


@dataclass
class Answered:
    """One request to the receiver: its decision id, what it sent back, and how it ended."""

    decision_id: str | None
    mode: str
    sent: int = 0  # bytes of the answer the sender's side accepted
    closed_by_sender: bool = False
    finished: bool = False


@dataclass
class Upstream:
    """A receiver in one of four modes: accept, trickle-head, trickle-body, huge."""

    mode: str = "accept"
    cond: threading.Condition = field(default_factory=threading.Condition)
    answered: list[Answered] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    quit: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/decisions"

    def set(self, mode: str) -> None:
        with self.cond:
            self.mode = mode

    def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def in_flight(self) -> list[Answered]:
        with self.cond:
            return [a for a in self.answered if not a.finished]

    def _record(self, answered: Answered, **changes: Any) -> None:
        with self.cond:
            for name, value in changes.items():
                setattr(answered, name, value)
            self.cond.notify_all()

    def answer(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        body = json.loads(raw)
        with self.cond:
            mode = self.mode
            answered = Answered(body.get("id"), mode)
            self.answered.append(answered)
            if mode == "accept":
                self.stored.append(body["id"])
            self.cond.notify_all()
        writer = handler.connection
        writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CHUNK)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        try:
            if mode == "accept":
                writer.sendall(head + b"Content-Length: 2\r\n\r\n{}")
            elif mode == "trickle-head":
                self._trickle(writer, answered, head + b"X-Padding: " + b"a" * 60000)
            elif mode == "trickle-body":
                writer.sendall(head + b"Content-Length: 1000000000\r\n\r\n")
                self._trickle(writer, answered, b"x" * 1_000_000)
            else:  # huge: as fast as the sender reads it
                writer.sendall(head + f"Content-Length: {HUGE}\r\n\r\n".encode())
                block = b"x" * CHUNK
                for _ in range(HUGE // CHUNK):
                    writer.sendall(block)
                    self._record(answered, sent=answered.sent + len(block))
        except OSError:
            self._record(answered, closed_by_sender=True)
        self._record(answered, finished=True)

    def _trickle(self, writer: socket.socket, answered: Answered, data: bytes) -> None:
        for byte in data:
            if self.quit.wait(TRICKLE_SECONDS):
                return
            writer.sendall(bytes([byte]))
            self._record(answered, sent=answered.sent + 1)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    receiver = Upstream()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            assert signing.verify(self.headers.get(signing.HEADER), raw, [UPSTREAM_SECRET])
            receiver.answer(self, raw)
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.server = server
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield receiver
    receiver.quit.set()
    server.shutdown()
    server.server_close()


def _bot(fake: FakeSlack, db_url: str, upstream: Upstream, deadline: float) -> BotApp:
    settings = make_settings(
        fake, db_url, simsid_upstream_url=upstream.url, simsid_upstream_secret=UPSTREAM_SECRET
    )
    bot = create_app(settings, timings=FAST)
    assert bot.delivery.upstream is not None
    bot.delivery.upstream.timeout = deadline
    return bot


def _decide(bot: BotApp, client: Client, site: str) -> None:
    """An install of an application that bypasses approval: enabled at once, a decision."""
    with bot.db.session() as session:
        applications.register(session, app_id="app-fast", name="Fast", bypass_auth=True)
    answer = client.install(app_id="app-fast", site_id=site, site_name=f"School {site}")
    assert answer.status == 202, answer.body


def _decisions(bot: BotApp) -> list[OutboxItem]:
    with bot.db.read() as session:
        return list(
            session.scalars(
                select(OutboxItem)
                .where(col(OutboxItem.kind) == OutboxKind.UPSTREAM)
                .order_by(col(OutboxItem.id))
            )
        )


def test_slack_deliveries_go_on_while_an_upstream_call_hangs(
    fake_slack: FakeSlack, db_url: str, upstream: Upstream
) -> None:
    """Install messages are posted while a decision's call trickles; a stop ends both
    lanes at once, gives the call up and leaves the decision to be sent again."""
    upstream.set("trickle-body")
    bot = _bot(fake_slack, db_url, upstream, deadline=60.0)  # hangs for the whole test
    try:
        with in_process(bot, fake_slack) as client:
            _decide(bot, client, "site-slow")
            assert upstream.wait_for(lambda: any(a.sent for a in upstream.answered))
            answer = client.install(app_id="app-homework", site_id="site-oak")
            assert answer.status == 202
            _installed(bot, fake_slack, "app-homework", "site-oak")
            _installed(bot, fake_slack, "app-fast", "site-slow")
            # The call is still hanging: the messages did not wait for it to end.
            [hanging] = upstream.in_flight()
            assert hanging.mode == "trickle-body" and not hanging.closed_by_sender

            bot.delivery.stop(timeout=WAIT)
            assert not bot.delivery.running()
            assert upstream.wait_for(lambda: hanging.closed_by_sender)
        [decision] = _decisions(bot)
        assert decision.done_at is None and decision.claimed_until is None  # sent again later
        assert decision.attempts == 0  # stopped, not refused: no try counted
        assert upstream.stored == []
    finally:
        bot.delivery.stop()
        bot.db.dispose()


@pytest.mark.parametrize("mode", ["trickle-head", "trickle-body"])
def test_an_upstream_call_gives_up_at_its_deadline_and_is_retried(
    fake_slack: FakeSlack, sqlite_url: str, upstream: Upstream, mode: str
) -> None:
    """Trickled a byte at a time, each read comes well within any per-read timeout; the
    call still ends at its overall deadline, and the decision is delivered once later."""
    upstream.set(mode)
    bot = _bot(fake_slack, sqlite_url, upstream, deadline=0.4)
    try:
        with in_process(bot, fake_slack) as client:
            _decide(bot, client, "site-a")
            assert upstream.wait_for(
                lambda: bool(upstream.answered) and upstream.answered[0].closed_by_sender
            )
            first = upstream.answered[0]
            # 0.4 s of a byte every 20 ms: about 20 bytes, nowhere near the announced size.
            assert 0 < first.sent < 200
            upstream.set("accept")
            assert upstream.wait_for(lambda: len(upstream.stored) == 1)
            assert bot.delivery.wait_idle(WAIT)
        [decision] = _decisions(bot)
        assert decision.done_at is not None and not decision.failed
        assert decision.attempts >= 1  # the timed-out try counted
        assert upstream.stored == [decision.payload and decision.payload["id"]]
    finally:
        bot.delivery.stop()
        bot.db.dispose()


def test_a_huge_answer_is_read_only_up_to_a_few_kilobytes(upstream: Upstream) -> None:
    """A 2xx counts as delivered by its status; its body is read no further than
    a few kilobytes (the receiver could send only kernel buffers' worth before the
    sender closed), and the sender's memory does not grow with it."""
    upstream.set("huge")
    sender = UpstreamSender(upstream.url, UPSTREAM_SECRET, timeout=WAIT)
    tracemalloc.start()
    try:
        result = sender.send(_claimed())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.delivered, result.error
    assert upstream.wait_for(lambda: upstream.answered[0].finished)
    [answered] = upstream.answered
    assert answered.closed_by_sender
    assert answered.sent < 4 * 1024 * 1024 < HUGE
    assert peak < 1024 * 1024
