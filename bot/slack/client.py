"""The Slack Web API client: SLACK_API_URL, a timeout, and retries for transient faults."""

from __future__ import annotations

from enum import StrEnum

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.web import SlackResponse

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


class Lasting(StrEnum):
    """Why Slack refused a call for good: retrying the same call will not change it."""

    CHANNEL = "channel"  # the channel will not take it (not there, bot not in it, archived)
    TOKEN = "token"  # noqa: S105  (a kind, not a secret): the bot token itself is refused: nothing will get through
    PAYLOAD = "payload"  # this message will never be accepted as it is


_LASTING = {
    **dict.fromkeys(
        ("channel_not_found", "not_in_channel", "is_archived", "restricted_action"),
        Lasting.CHANNEL,
    ),
    **dict.fromkeys(
        ("not_authed", "invalid_auth", "token_revoked", "token_expired", "account_inactive"),
        Lasting.TOKEN,
    ),
    **dict.fromkeys(("invalid_blocks", "invalid_arguments", "msg_too_long"), Lasting.PAYLOAD),
}


def classify(exc: BaseException) -> Lasting | None:
    """The lasting kind of a refusal; None for what is retried as before (rate limits,
    5xx, timeouts, and errors not known to last)."""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        if exc.response.status_code >= 500 or exc.response.status_code == 429:
            return None
        return _LASTING.get(str(exc.response.get("error")))
    return None


def error_code(exc: BaseException) -> str:
    """Slack's error code (`not_in_channel`), or the exception's class name."""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return str(exc.response.get("error"))
    return type(exc).__name__


def refusal_details(exc: BaseException) -> list[str]:
    """Slack's `response_metadata.messages`: what it found wrong in a refused payload."""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        metadata = exc.response.get("response_metadata") or {}
        messages = metadata.get("messages") if isinstance(metadata, dict) else None
        if isinstance(messages, list):
            return [str(m)[:300] for m in messages[:20]]
    return []


def granted_scopes(response: SlackResponse) -> frozenset[str] | None:
    """The scopes Slack says the token has (every Web API answer carries them), or None."""
    for name, value in (response.headers or {}).items():
        if name.lower() == "x-oauth-scopes":
            text = ",".join(value) if isinstance(value, list) else str(value)
            return frozenset(s.strip() for s in text.split(",") if s.strip())
    return None
