"""Decisions going out: POST each one, signed, to SIMSID_UPSTREAM_URL."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from bot import log_context
from bot.simsid import signing
from store.backoff import retry_after as parse_retry_after
from store.outbox import Claimed

log = logging.getLogger(__name__)

# The whole call: connecting, sending the decision and reading the answer.
TIMEOUT_SECONDS = 10
# The answer's status says whether the decision was stored; of its body, only this much is
# read (a receiver answering 200 with a gigabyte costs the bot a few KB, not a gigabyte).
MAX_ANSWER_BYTES = 4096
# A 4xx other than 408/429 means the receiver rejects the decision: stop after this many.
PERMANENT_FAILURE_TRIES = 5


@dataclass(frozen=True)
class SendResult:
    delivered: bool
    error: str | None = None
    retry_after: float | None = None
    # Set when the receiver refused the decision itself: give up after this many tries.
    give_up_after: int | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Treat a redirect as a failed delivery instead of following it.

    urllib would follow a 301/302/303 for a POST as a GET without the body, and a 2xx
    from that GET would count as delivered although the receiver never saw the decision.
    """

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> None:
        return None


class _Deadline:
    """Ends one call at its deadline, whatever the receiver does.

    A socket timeout bounds each read only, and a receiver sending a byte every second
    never trips it: a timer shuts the call's sockets down when the time is up (or when
    `expire()` is called early, on shutdown), which ends any read or write in progress.
    """

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False
        self._timer = threading.Timer(seconds, self.expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _connect(
        self, address: tuple[str, int], timeout: float, source: tuple[str, int] | None = None
    ) -> socket.socket:
        sock = socket.create_connection(address, timeout, source)
        with self._lock:
            if self.expired:
                sock.close()
                raise TimeoutError("deadline passed while connecting")
            # Watch a duplicate: shutting it down ends reads on the original as well, and
            # TLS, which takes the original's descriptor over, cannot close it meanwhile.
            self._sockets.append(sock.dup())
        return sock

    def watched(self, cls: type[http.client.HTTPConnection]) -> Callable[..., Any]:
        """A connection class for urllib whose sockets this deadline watches."""

        def connection(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            conn = cls(host, **kwargs)
            # http.client keeps its socket factory on the instance to be replaced.
            conn._create_connection = self._connect  # type: ignore[attr-defined]
            return conn

        return connection


class _Http(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._deadline.watched(http.client.HTTPConnection), req)


class _Https(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._deadline.watched(http.client.HTTPSConnection), req)


def _read_answer(response: http.client.HTTPResponse) -> None:
    """Read the answer's first MAX_ANSWER_BYTES at most; an answer cut short of that (or of
    its shorter Content-Length) raises IncompleteRead, as the whole answer's would."""
    length = response.length
    want = MAX_ANSWER_BYTES if length is None else min(length, MAX_ANSWER_BYTES)
    got = response.read(want)
    if length is not None and len(got) < want:
        raise http.client.IncompleteRead(got, want - len(got))


class UpstreamSender:
    """Signs and sends one decision; never raises for network or HTTP failures."""

    def __init__(self, url: str, secret: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.url = url
        self._secret = secret
        self.timeout = timeout  # the whole call's deadline, in seconds
        self._lock = threading.Lock()
        self._calls: set[_Deadline] = set()

    def abort(self) -> None:
        """End the calls in progress now, as failed tries (the lane is stopping)."""
        with self._lock:
            calls = list(self._calls)
        for call in calls:
            call.expire()

    def send(self, item: Claimed, *, stop: threading.Event | None = None) -> SendResult:
        """POST the decision; once `stop` is set, `abort()` ends the call (set before the
        call began, it ends at once)."""
        body = json.dumps(item.payload or {}, separators=(",", ":"), sort_keys=True).encode()
        request = urllib.request.Request(  # noqa: S310  (the operator configures the URL)
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                signing.HEADER: signing.sign(self._secret, body),
                "User-Agent": "simsid-bot",
                # The request that made the decision, to follow it across both systems.
                **({log_context.HEADER: item.request_id} if item.request_id else {}),
            },
        )
        with _Deadline(self.timeout) as deadline:
            with self._lock:
                self._calls.add(deadline)
            if stop is not None and stop.is_set():
                deadline.expire()  # abort() may have run just before the call was added
            try:
                result = self._send(request, deadline)
            finally:
                with self._lock:
                    self._calls.discard(deadline)
        decision = (item.payload or {}).get("id")
        log.info("POST of decision %s upstream: %s", decision, result.error or "delivered")
        return result

    def _send(self, request: urllib.request.Request, deadline: _Deadline) -> SendResult:
        opener = urllib.request.build_opener(_NoRedirect(), _Http(deadline), _Https(deadline))
        try:
            with opener.open(request, timeout=self.timeout) as response:
                _read_answer(response)
            if deadline.expired:
                raise TimeoutError  # the answer was cut by the deadline, not by the receiver
            return SendResult(delivered=True)
        except urllib.error.HTTPError as exc:
            status = exc.code
            header = exc.headers.get("Retry-After") if exc.headers else None
            retry_after = parse_retry_after(header)
            exc.close()  # the error body is not needed; free the connection now
            error = f"HTTP {status}"
            if 400 <= status < 500 and status not in (408, 429):
                return SendResult(False, error, give_up_after=PERMANENT_FAILURE_TRIES)
            return SendResult(False, error, retry_after=retry_after)
        # http.client.HTTPException is not an OSError: a receiver that closes the connection
        # mid-answer (IncompleteRead, BadStatusLine) must be a retry, not a crashed batch.
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
            if deadline.expired:
                return SendResult(False, f"TimeoutError: no answer within {self.timeout:g} s")
            reason = getattr(exc, "reason", exc)
            return SendResult(False, f"{type(exc).__name__}: {reason}"[:200])
