"""Logging to stderr, as text or one JSON object a line; secrets never reach a log line
(settings hold them as SecretStr, and the libraries' DEBUG records are dropped)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

from bot import log_context

_NOISY = ("slack_sdk", "slack_bolt", "urllib3", "waitress.queue")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"
LogFormat = Literal["text", "json"]


class _QuietLibraries(logging.Filter):
    """Drops the libraries' DEBUG records at the handler, whatever their logger's level.

    Setting those loggers' levels is not enough: Bolt copies the root logger's level onto
    each logger it creates (slack_bolt.logger._configure_from_root), and at DEBUG it logs
    every response body, a `/simsid secret` answer included.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO or not record.name.startswith(_NOISY)


class _Context(logging.Filter):
    """Stamps each record with the request, user and installation it belongs to."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = log_context.current()
        record.log_context = fields
        record.context = (
            " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]" if fields else ""
        )
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, pid, the
    context fields known, and `exc` (the traceback, newlines escaped) for an exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        line.update(getattr(record, "log_context", None) or log_context.current())
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


def formatter(log_format: LogFormat) -> logging.Formatter:
    """The formatter for LOG_FORMAT (gunicorn's own handlers use it too)."""
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def prepare(handler: logging.Handler, log_format: LogFormat) -> logging.Handler:
    """Give `handler` the format and filters every log line of the bot goes through."""
    handler.setFormatter(formatter(log_format))
    handler.addFilter(_QuietLibraries())
    handler.addFilter(_Context())
    return handler


def configure_logging(
    level: str, log_format: LogFormat = "text", stream: TextIO | None = None
) -> None:
    """Log at `level` to stderr (or `stream`) in LOG_FORMAT."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        handlers=[prepare(logging.StreamHandler(stream or sys.stderr), log_format)],
        force=True,
    )
    # slack_sdk logs whole request bodies and tokens at DEBUG: keep it at INFO or above.
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger().level))
