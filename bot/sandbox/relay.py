"""What Slack and SIMS ID send the bot, built and signed exactly as they do, then sent.

The page never talks to the bot directly: every click, command and install goes
through here to the bot's real endpoints, so the sandbox exercises the same
signature checks, parsing and listeners as production.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.sandbox import slack_payloads
from bot.sandbox.blockkit import answer_problems
from bot.sandbox.workspace import TEAM_ID
from bot.simsid import signing

log = logging.getLogger(__name__)

API_APP_ID = "A0SANDBOX"
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class BotResponse:
    """The bot's HTTP answer: status and body (JSON when it sent JSON, else None), and
    what Slack would refuse in it (a reply or form view Slack would not show)."""

    status: int
    body: object  # parsed JSON: read it after an isinstance check
    raw: str
    refused: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and not self.refused


@dataclass(frozen=True)
class Click:
    """One button press: where the button is, and the button as the message defines it."""

    user: str
    channel: str
    message_ts: str
    is_ephemeral: bool
    block_id: str
    button: dict[str, Any]
    message: dict[str, Any] | None  # Slack sends the message only for non-ephemeral ones


def _post(url: str, body: bytes, headers: dict[str, str]) -> BotResponse:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310  (the bot's own URL)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310  (http only)
            status, data = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, data = error.code, error.read()
    raw = data.decode("utf-8", "replace")
    try:
        parsed = json.loads(raw) if raw.strip() else None
    except ValueError:
        parsed = None
    # Slack checks the bot's answers as the stand-in checks its calls: one it would refuse
    # fails here, as it would fail in Slack, rather than showing in the sandbox.
    refused = tuple(answer_problems(parsed))
    if refused:
        log.warning("Slack would refuse the bot's answer: %s", "; ".join(refused))
    return BotResponse(status, parsed, raw, refused)


def _username(user: str) -> str:
    return user.lower()


class Relay:
    """Sends Slack's and SIMS ID's requests to the bot at `bot_url`, signed with their secrets."""

    def __init__(self, bot_url: str, *, signing_secret: str, webhook_secret: str) -> None:
        self._bot_url = bot_url.rstrip("/")
        self._signing_secret = signing_secret
        self._webhook_secret = webhook_secret
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        # Whose click each trigger_id came from: a modal opened with it is that person's.
        self._triggers: dict[str, str] = {}

    def _trigger_id(self, user: str | None = None) -> str:
        with self._lock:
            n = next(self._counter)
            trigger = f"{n}.{int(time.time())}.sandbox"
            if user is not None:
                self._triggers[trigger] = user
        return trigger

    def trigger_user(self, trigger_id: str) -> str | None:
        """The person whose click a trigger_id was issued for, if it was one."""
        with self._lock:
            return self._triggers.get(trigger_id)

    def _signed_json(self, body: bytes) -> BotResponse:
        headers = slack_payloads.slack_headers(
            body.decode(), secret=self._signing_secret, content_type="application/json"
        )
        return _post(f"{self._bot_url}/slack/events", body, headers)

    def _to_slack_endpoint(self, body: str) -> BotResponse:
        headers = slack_payloads.slack_headers(body, secret=self._signing_secret)
        return _post(f"{self._bot_url}/slack/events", body.encode(), headers)

    def command(
        self, *, user: str, channel: str, channel_name: str, text: str, response_url: str
    ) -> BotResponse:
        """A `/simsid` slash command, with the form fields Slack sends."""
        return self._to_slack_endpoint(
            slack_payloads.slash_command(
                text,
                user=user,
                team=TEAM_ID,
                channel=channel,
                channel_name=channel_name,
                response_url=response_url,
                trigger_id=self._trigger_id(user),  # `/simsid approve APP` opens a form
                api_app_id=API_APP_ID,
            )
        )

    def click(self, click: Click, *, channel_name: str, response_url: str) -> BotResponse:
        """A block_actions payload for one button, as Slack posts it to the interactivity URL."""
        payload = slack_payloads.block_actions(
            click.button.get("action_id", ""),
            click.button.get("value", ""),
            user=click.user,
            team=TEAM_ID,
            channel=click.channel,
            channel_name=channel_name,
            message_ts=click.message_ts,
            is_ephemeral=click.is_ephemeral,
            message=click.message,
            block_id=click.block_id,
            button=click.button,
            response_url=response_url,
            trigger_id=self._trigger_id(click.user),
            api_app_id=API_APP_ID,
        )
        return self._to_slack_endpoint(slack_payloads.payload_form(payload))

    def home_click(
        self, *, user: str, view_id: str, block_id: str, button: dict[str, Any]
    ) -> BotResponse:
        """A button pressed on the Home tab: the view is its container, there is no
        response_url and no channel."""
        payload = slack_payloads.home_block_actions(
            button.get("action_id", ""),
            button.get("value", ""),
            user=user,
            team=TEAM_ID,
            trigger_id=self._trigger_id(user),
            view_id=view_id,
            block_id=block_id,
            api_app_id=API_APP_ID,
        )
        return self._to_slack_endpoint(slack_payloads.payload_form(payload))

    def submit_view(self, *, user: str, view: dict[str, Any], typed: dict[str, str]) -> BotResponse:
        """A view_submission: the modal as the bot opened it, with what was typed into
        each of its input blocks (`typed` maps block_id to text)."""
        payload = slack_payloads.view_submission(
            view,
            {block_id: text or None for block_id, text in typed.items()},
            user=user,
            team=TEAM_ID,
            trigger_id=self._trigger_id(user),
            api_app_id=API_APP_ID,
        )
        return self._to_slack_endpoint(slack_payloads.payload_form(payload))

    def home_opened(self, *, user: str) -> BotResponse:
        """The app_home_opened event, as the Events API posts it (JSON, signed)."""
        body = slack_payloads.home_opened(
            user=user,
            team=TEAM_ID,
            event_id=f"Ev{uuid.uuid4().hex[:12].upper()}",
            api_app_id=API_APP_ID,
        )
        return self._signed_json(body.encode())

    def install(
        self,
        *,
        event_type: str,
        app_id: str,
        app_name: str,
        site: dict[str, str],
    ) -> BotResponse:
        """An install webhook event from SIMS ID, signed with the webhook secret."""
        event = {
            "id": f"evt_sandbox_{uuid.uuid4().hex[:16]}",
            "type": event_type,
            "occurred_at": datetime.now(UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
            "application": {"id": app_id, "name": app_name},
            "site": site,
        }
        body = json.dumps(event).encode()
        headers = {
            "Content-Type": "application/json",
            signing.HEADER: signing.sign(self._webhook_secret, body),
        }
        return _post(f"{self._bot_url}/simsid/events", body, headers)
