"""testing/signed.py: the tests' signatures, written from the published schemes, agree with
Slack's own SDK and with the bot's verifier, and fail on a changed body or secret."""

from __future__ import annotations

import time

from slack_sdk.signature import SignatureVerifier

from bot.simsid import signing
from testing import signed

BODY = "command=%2Fsimsid&text=pending+%26+more"


def test_slack_headers_are_what_slacks_sdk_verifies() -> None:
    now = int(time.time())
    headers = signed.slack_headers(BODY, secret="s3cret", timestamp=now)
    assert headers["X-Slack-Request-Timestamp"] == str(now)
    assert SignatureVerifier("s3cret").is_valid_request(BODY, headers)
    assert not SignatureVerifier("other").is_valid_request(BODY, headers)
    assert not SignatureVerifier("s3cret").is_valid_request(BODY + "x", headers)


def test_webhook_headers_are_what_the_bot_verifies() -> None:
    body = b'{"id":"evt_1","type":"installation.requested"}'
    headers = signed.webhook_headers(body, secret="s3cret", timestamp=1795770000)
    header = headers["X-SimsId-Signature"]
    assert header == signing.sign("s3cret", body, timestamp=1795770000)
    assert signing.verify(header, body, ["s3cret"], now=1795770000)
    assert not signing.verify(header, body + b" ", ["s3cret"], now=1795770000)
    assert not signing.verify(header, body, ["other"], now=1795770000)
