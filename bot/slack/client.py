"""The Slack Web API client: SLACK_API_URL, a timeout, and retries for transient faults."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from bot.config import Settings

# Short, because the delivery loop retries with backoff and must not stall behind one call.
TIMEOUT_SECONDS = 10


def make_client(settings: Settings) -> WebClient:
    """A WebClient for the bot token.

    Rate limits are not retried here: the delivery loop reschedules on Retry-After so one
    throttled channel never blocks a worker thread.
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=TIMEOUT_SECONDS,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            ServerErrorRetryHandler(max_retry_count=1),
        ],
    )


def describe_error(exc: BaseException) -> str:
    """A failed Slack call in one line, for logs and the outbox's last error."""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}: {exc.response.get('error')}"
    return f"{type(exc).__name__}: {exc}"[:300]
