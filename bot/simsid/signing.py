"""Stripe-style `t=<unix>,v1=<hex>` signatures: install events in, decisions out."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable

HEADER = "X-SimsId-Signature"
TOLERANCE_SECONDS = 300
_DIGITS = re.compile(r"[0-9]{1,12}")


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"{t}.{body}"` keyed with `secret` (`t` as the header spells it)."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value for `body`: `t=...,v1=...`."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, t, body)}"


def verify(
    header: str | None,
    body: bytes,
    secrets: Iterable[str],
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """True when any v1 in the header matches any secret and t is within tolerance."""
    if not header:
        return False
    timestamp: int | None = None
    spelled = ""  # t as sent: what the sender signed, leading zeros and all
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses (a 500).
        if key == "t" and _DIGITS.fullmatch(value):
            timestamp, spelled = int(value), value
        # Non-ASCII can match no hex digest, and compare_digest refuses it (a 500).
        elif key == "v1" and value and value.isascii():
            candidates.append(value.lower())  # hex either way
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    matched = False
    for secret in secrets:
        expected = signature(secret, spelled, body)
        for candidate in candidates:
            # Check every pair so timing does not reveal which secret or position matched.
            matched |= hmac.compare_digest(expected, candidate)
    return matched
