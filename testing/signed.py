"""Slack's and SIMS ID's request signatures, computed as a receiver's docs say, for the tests.

Written from the published schemes, not from the bot's code, so a test signed here checks
the bot's verification rather than agreeing with it by construction:

* Slack: `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256, keyed with the app's
  signing secret, of `v0:{timestamp}:{raw body}`; the timestamp goes in
  `X-Slack-Request-Timestamp` (Slack's "Verifying requests from Slack").
* SIMS ID: `X-SimsId-Signature` is `t={unix time},v1={hex HMAC-SHA256 of "{t}.{raw body}"}`,
  keyed with the webhook secret (docs/upstream.md, "Verifying the signature").

The bodies themselves (slash commands, button presses, modal submissions) come from
bot/sandbox/slack_payloads.py: shapes, not secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import time

FORM = "application/x-www-form-urlencoded"


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _now(timestamp: int | None) -> int:
    return int(time.time()) if timestamp is None else timestamp


def slack_headers(
    body: str, *, secret: str, timestamp: int | None = None, content_type: str = FORM
) -> dict[str, str]:
    """The headers Slack sends with `body`, signed with the app's signing secret."""
    ts = str(_now(timestamp))
    signature = _hex_hmac(secret, f"v0:{ts}:".encode() + body.encode())
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={signature}",
    }


def webhook_headers(body: bytes, *, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers SIMS ID sends with an install event, signed with the webhook secret."""
    t = _now(timestamp)
    signature = _hex_hmac(secret, str(t).encode() + b"." + body)
    return {"Content-Type": "application/json", "X-SimsId-Signature": f"t={t},v1={signature}"}
