"""Decisions going out: POST each one, signed, to SIMSID_UPSTREAM_URL."""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import IO

from bot.simsid import signing
from store.backoff import retry_after as parse_retry_after
from store.outbox import Claimed

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
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


class UpstreamSender:
    """Signs and sends one decision; never raises for network or HTTP failures."""

    def __init__(self, url: str, secret: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.url = url
        self._secret = secret
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect())

    def send(self, item: Claimed) -> SendResult:
        body = json.dumps(item.payload or {}, separators=(",", ":"), sort_keys=True).encode()
        request = urllib.request.Request(  # noqa: S310  (the operator configures the URL)
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                signing.HEADER: signing.sign(self._secret, body),
                "User-Agent": "simsid-bot",
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read()
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
            reason = getattr(exc, "reason", exc)
            return SendResult(False, f"{type(exc).__name__}: {reason}"[:200])
