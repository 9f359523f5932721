"""Logging to stderr; secrets never reach a log line (settings hold them as SecretStr)."""

from __future__ import annotations

import logging
import sys

_NOISY = ("slack_sdk", "slack_bolt", "urllib3", "waitress.queue")


class _QuietLibraries(logging.Filter):
    """Drops the libraries' DEBUG records at the handler, whatever their logger's level.

    Setting those loggers' levels is not enough: Bolt copies the root logger's level onto
    each logger it creates (slack_bolt.logger._configure_from_root), and at DEBUG it logs
    every response body, a `/simsid secret` answer included.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO or not record.name.startswith(_NOISY)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # slack_sdk logs whole request bodies and tokens at DEBUG: keep it at INFO or above.
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger().level))
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QuietLibraries())
