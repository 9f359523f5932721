"""The one WSGI application: Slack's endpoint, the install webhook and the health check."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import log_context, metrics
from bot.metrics import Endpoint
from bot.simsid.webhook import MAX_BODY_BYTES, Webhook
from bot.slack.signature import is_signed_by_slack
from store import decisions, queries, refusals
from store.db import Database, DatabaseUnavailable
from store.models import OutboxKind, utcnow
from store.reconcile import last_run as reconcile_record

log = logging.getLogger(__name__)

# Slack's own payloads are small; anything larger is not from Slack.
MAX_SLACK_BODY_BYTES = 1024 * 1024
SLACK_PATH = "/slack/events"
WEBHOOK_PATH = "/simsid/events"


def body_limit(path: str) -> int:
    """The largest body accepted on `path`; the HTTP server refuses a larger announced
    Content-Length with 413 before reading any of it (bot/web/server.py)."""
    return MAX_BODY_BYTES if path == WEBHOOK_PATH else MAX_SLACK_BODY_BYTES


def _json(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = {
        200: "OK",
        202: "Accepted",
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        405: "Method Not Allowed",
        413: "Payload Too Large",
        503: "Service Unavailable",
    }.get(status, "Status")
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


class _BadLength(Exception):
    """Content-Length is not a non-negative number."""


def _read_body(environ: WSGIEnvironment, limit: int) -> bytes | None:
    """The request body, or None when it is over `limit` bytes (checked on the announced
    length before reading, so a huge Content-Length costs nothing)."""
    stream = environ["wsgi.input"]
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not raw:  # no length given (a chunked body): read at most one byte past the limit
        body: bytes = stream.read(limit + 1)
        return None if len(body) > limit else body
    # A negative length would be read(-1): to the end of the stream, however slow.
    if not raw.isascii() or not raw.isdigit():
        raise _BadLength(raw)
    length = int(raw)
    if length > limit:
        return None
    body = stream.read(length) if length else b""
    return None if len(body) > limit else body


class HttpApp:
    """Routes by path; Bolt handles `/slack/events` after its signature check."""

    def __init__(
        self,
        db: Database,
        webhook: Webhook,
        slack: SlackRequestHandler | None,
        *,
        signing_secret: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        metrics_endpoint: Endpoint | None = None,
    ) -> None:
        self._metrics = metrics_endpoint
        self._db = db
        self._webhook = webhook
        self._slack = slack
        self._signing_secret = signing_secret
        self._clock = clock

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request under its request id (echoed in X-Request-Id), in a context
        of its own: what it logs and queues carries the id, and nothing of it outlives it."""
        request_id = log_context.request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        started = time.monotonic()
        status = ["-"]

        def answer(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = code.split(" ", 1)[0]
            return start_response(code, [*headers, (log_context.HEADER, request_id)], exc_info)

        def run() -> Iterable[bytes]:
            log_context.REQUEST_ID.set(request_id)
            body = self._measured(environ, answer)
            path = environ.get("PATH_INFO", "")
            log.log(
                logging.DEBUG if path == "/healthz" else logging.INFO,
                "%s %s answered %s in %.0f ms",
                str(environ.get("REQUEST_METHOD", "GET"))[:10],
                path if path in (SLACK_PATH, WEBHOOK_PATH, "/healthz") else "(another path)",
                status[0],
                (time.monotonic() - started) * 1000,
            )
            return body

        return contextvars.Context().run(run)

    def _measured(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        with metrics.http_request(path, start_response) as answer:
            scraped = self._metrics.answer(environ, answer) if self._metrics else None
            return scraped if scraped is not None else self._route(path, environ, answer)

    def _route(
        self, path: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz":
            return self._health(start_response)
        if path == WEBHOOK_PATH:
            if method != "POST":
                return _json(start_response, 405, {"error": "use POST"})
            try:
                body = _read_body(environ, MAX_BODY_BYTES)
            except _BadLength:
                return _json(start_response, 400, {"error": "Content-Length is not a number"})
            if body is None:
                metrics.webhook_event("refused_size")
                return _json(start_response, 413, {"error": f"body is over {MAX_BODY_BYTES} bytes"})
            answer = self._webhook.handle(environ.get("HTTP_X_SIMSID_SIGNATURE"), body)
            return _json(start_response, answer.status, answer.body)
        if path == SLACK_PATH and self._slack is not None:
            if method != "POST":
                return _json(start_response, 405, {"error": "use POST"})
            try:
                body = _read_body(environ, MAX_SLACK_BODY_BYTES)
            except _BadLength:
                return _json(start_response, 400, {"error": "Content-Length is not a number"})
            if body is None:
                return _json(start_response, 413, {"error": "body too large"})
            if not self._from_slack(environ, body):
                # Nothing runs for an unverified request: Bolt's error handler would
                # otherwise answer it, and post to the response_url it names.
                return _json(start_response, 401, {"error": "invalid Slack signature"})
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["wsgi.input"] = _Replay(body)
            return self._slack(environ, start_response)
        return _json(start_response, 404, {"error": "not found"})

    def _from_slack(self, environ: WSGIEnvironment, body: bytes) -> bool:
        if self._signing_secret is None:
            return False
        verified = is_signed_by_slack(
            self._signing_secret,
            body,
            environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
            environ.get("HTTP_X_SLACK_SIGNATURE"),
        )
        if not verified:
            log.warning("refused a request to %s: Slack signature missing or wrong", SLACK_PATH)
        return verified

    def _health(self, start_response: StartResponse) -> list[bytes]:
        try:
            self._db.ping()
            with self._db.read() as session:
                decision = queries.oldest_undelivered(session, OutboxKind.UPSTREAM)
                # Refused for good, they are still undelivered: the oldest counts as well.
                refused, oldest_refused = decisions.refused(session)
                message = queries.oldest_undelivered(session, OutboxKind.MESSAGE)
                last_reconcile = reconcile_record.last_run(session)
                refused_now = refusals.active(session)
                held = refusals.held_count(session) if refused_now else 0
        except DatabaseUnavailable as exc:
            log.warning("health check: database unavailable (%s)", exc)
            return _json(start_response, 503, {"status": "unavailable", "database": "down"})
        now = self._clock()

        def age(t: datetime | None) -> float | None:
            return None if t is None else round((now - t).total_seconds(), 1)

        return _json(
            start_response,
            200,
            {
                "status": "ok",
                "database": "up",
                "oldest_undelivered_decision_seconds": age(
                    min((t for t in (decision, oldest_refused) if t is not None), default=None)
                ),
                "refused_decisions": refused,
                "oldest_undelivered_message_seconds": age(message),
                # Which `serve` worker answered: shows that every worker is answering.
                "worker_pid": os.getpid(),
                "last_reconcile": last_reconcile,
                # Slack's lasting refusals: still 200, the process is healthy; people act.
                "slack": {
                    "status": "refused" if refused_now else "ok",
                    "refusals": [
                        {
                            "what": "channel" if refusals.channel_of(r.target) else "token",
                            "channel": refusals.channel_of(r.target),
                            "error": r.error,
                            "since_seconds": age(r.since),
                        }
                        for r in refused_now
                    ],
                    "held_items": held,
                },
            },
        )


class _Replay:
    """A wsgi.input that returns the body already read (Bolt reads it again)."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._body) if size is None or size < 0 else self._pos + size
        chunk = self._body[self._pos : end]
        self._pos += len(chunk)
        return chunk
