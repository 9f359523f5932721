"""Logging to stderr; secrets never reach a log line (settings hold them as SecretStr)."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # slack_sdk logs whole request bodies and tokens at DEBUG: keep it at INFO or above.
    for noisy in ("slack_sdk", "slack_bolt", "urllib3", "waitress.queue"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger().level))
