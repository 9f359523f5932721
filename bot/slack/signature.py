"""Slack's request signature, checked by the bot itself before anything else runs.

Bolt checks it too, but its verifier turns a timestamp that is not a number ("abc", or
"²", which `str.isdigit` accepts) into an exception; the error handler then ran on the
unverified body and posted to whatever `response_url` it named.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence

TOLERANCE_SECONDS = 300
# ASCII digits only: `int()` and `str.isdigit()` accept other scripts' digits.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def is_signed_by_slack(
    secret: str,
    body: bytes | str,
    timestamp: str | None,
    signature: str | None,
    *,
    now: float | None = None,
) -> bool:
    """True when `signature` is Slack's v0 HMAC of `body` at `timestamp`, within 5 minutes."""
    if not secret or not timestamp or not signature or not _TIMESTAMP.fullmatch(timestamp):
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256)
    return hmac.compare_digest(f"v0={digest.hexdigest()}".encode(), signature.encode())


def _first(headers: Mapping[str, str | Sequence[str]], name: str) -> str | None:
    value = headers.get(name, headers.get(name.lower()))
    if value is None or isinstance(value, str):
        return value
    return value[0] if value else None


def headers_signed_by_slack(
    secret: str, body: bytes | str, headers: Mapping[str, str | Sequence[str]]
) -> bool:
    """`is_signed_by_slack` with the two headers read from a header mapping."""
    return is_signed_by_slack(
        secret,
        body,
        _first(headers, "X-Slack-Request-Timestamp"),
        _first(headers, "X-Slack-Signature"),
    )
