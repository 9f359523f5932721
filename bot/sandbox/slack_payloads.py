"""What Slack sends the bot, built and signed as Slack does.

One copy for the sandbox, the tests and the benchmarks: the form of a slash command, the
payloads of a button press, a modal submission and the Home tab opening, and (for the
sandbox) Slack's request signature. Nothing here sends anything; callers post the body
with the headers to `/slack/events`. The tests sign with testing/signed.py instead, which
shares no code with the bot, so a signature test cannot check the bot against itself.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from datetime import datetime
from typing import Any

from slack_sdk.signature import SignatureVerifier

FORM = "application/x-www-form-urlencoded"
API_APP_ID = "A0SIMSID"


def slack_headers(
    body: str, *, secret: str, timestamp: int | None = None, content_type: str = FORM
) -> dict[str, str]:
    """The headers Slack sends with `body`, signed with the app's signing secret."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    # generate_signature is typed Optional, but only answers None without a timestamp.
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body) or ""
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


def slash_command(
    text: str,
    *,
    user: str,
    team: str,
    channel: str,
    response_url: str,
    trigger_id: str,
    channel_name: str = "installs",
    command: str = "/simsid",
    api_app_id: str = API_APP_ID,
    enterprise_id: str | None = None,
) -> str:
    """The form body of a slash command, with the fields Slack sends: its text with `&`,
    `<` and `>` escaped, as Slack sends all text a person typed (and, on Enterprise
    Grid, the organisation)."""
    grid = {"enterprise_id": enterprise_id, "enterprise_name": "Grid Org"} if enterprise_id else {}
    return urllib.parse.urlencode(
        {
            **grid,
            "token": "unused",
            "team_id": team,
            "team_domain": "sandbox",
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
            "api_app_id": api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def _user(user: str, team: str) -> dict[str, str]:
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team}


def _grid(payload: dict[str, Any], enterprise_id: str | None, org_install: bool) -> None:
    """Enterprise Grid's fields, as Slack documents them: the organisation beside the
    workspace; an org-wide install has no workspace (`team` null) and says so."""
    if enterprise_id is None:
        return
    payload["enterprise"] = {"id": enterprise_id, "name": "Grid Org"}
    payload["is_enterprise_install"] = org_install
    if org_install:
        payload["team"] = None
    elif isinstance(payload.get("team"), dict):
        payload["team"] |= {"enterprise_id": enterprise_id, "enterprise_name": "Grid Org"}


def block_actions(
    action_id: str,
    value: str,
    *,
    user: str,
    team: str,
    channel: str,
    message_ts: str,
    response_url: str,
    trigger_id: str,
    is_ephemeral: bool = False,
    message: dict[str, Any] | None = None,
    block_id: str = "b",
    button: dict[str, Any] | None = None,
    channel_name: str = "installs",
    api_app_id: str = API_APP_ID,
    user_team: str | None = None,
    enterprise_id: str | None = None,
    org_install: bool = False,
) -> dict[str, Any]:
    """A block_actions payload for one button press; `message` is what Slack sends of the
    message holding the button (it sends none for an ephemeral one), `button` the
    button's own fields (text, style) as the message defines them. `user_team` is the
    clicker's own workspace when it is not the app's (Enterprise Grid, shared channels);
    `enterprise_id` adds Grid's fields (`org_install`: an org-wide install's)."""
    button = button or {}
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user, user_team or team),
        "api_app_id": api_app_id,
        "token": "unused",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": is_ephemeral,
        },
        "trigger_id": trigger_id,
        "team": {"id": team, "domain": "sandbox"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": channel_name},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "text": button.get("text", {"type": "plain_text", "text": ""}),
                "value": value,
                **({"style": button["style"]} if button.get("style") else {}),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if message is not None:
        payload["message"] = message
    _grid(payload, enterprise_id, org_install)
    return payload


def home_block_actions(
    action_id: str,
    value: str,
    *,
    user: str,
    team: str,
    trigger_id: str,
    view_id: str = "VHOME",
    block_id: str = "b",
    api_app_id: str = API_APP_ID,
    user_team: str | None = None,
    enterprise_id: str | None = None,
) -> dict[str, Any]:
    """A button pressed on the App Home tab: the view is its container (the whole view
    comes along, as Slack sends it), and there is no response_url, channel or message."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": team, "domain": "sandbox"},
        "user": _user(user, user_team or team),
        "api_app_id": api_app_id,
        "token": "unused",
        "trigger_id": trigger_id,
        "container": {"type": "view", "view_id": view_id},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": {
            "id": view_id,
            "team_id": team,
            "type": "home",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            "hash": "1700000000.abcdef12",
            "title": {"type": "plain_text", "text": "View Title", "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": api_app_id,
            "external_id": "",
            "app_installed_team_id": team,
            "bot_id": "B0SIMSID",
        },
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    _grid(payload, enterprise_id, False)
    return payload


def home_opened(
    *, user: str, team: str, event_id: str, tab: str = "home", api_app_id: str = API_APP_ID
) -> str:
    """The JSON body of the app_home_opened event, as the Events API posts it."""
    return json.dumps(
        {
            "token": "unused",
            "team_id": team,
            "api_app_id": api_app_id,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0HOME",
                "tab": tab,
                "event_ts": f"{time.time():.6f}",
            },
        }
    )


def _seconds(typed: str | None) -> int | None:
    """A datetimepicker's value from what was typed: Unix seconds, or an ISO 8601 time."""
    if not typed:
        return None
    if typed.strip().isdigit():
        return int(typed)
    try:
        return int(datetime.fromisoformat(typed).timestamp())
    except ValueError:
        return None


def view_submission(
    view: dict[str, Any],
    typed: dict[str, str | None],
    *,
    user: str,
    team: str,
    trigger_id: str,
    api_app_id: str = API_APP_ID,
) -> dict[str, Any]:
    """A view_submission payload: `view` is the modal as the bot opened it, `typed` what
    was typed into each input block (block_id -> text, None for nothing), nested in
    the view's state as Slack nests it."""
    values: dict[str, Any] = {}
    for block in view.get("blocks") or []:
        element = block.get("element")
        if block.get("type") == "input" and isinstance(element, dict):
            block_id = str(block.get("block_id"))
            field: dict[str, Any] = {"type": element.get("type"), "value": typed.get(block_id)}
            if element.get("type") == "datetimepicker":
                # Slack sends the picked moment as Unix seconds, or null when none was.
                picked = typed.get(block_id)
                field = {"type": "datetimepicker", "selected_date_time": _seconds(picked)}
            values[block_id] = {str(element.get("action_id")): field}
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "sandbox"},
        "user": _user(user, team),
        "api_app_id": api_app_id,
        "token": "unused",
        "trigger_id": trigger_id,
        "view": {**view, "state": {"values": values}, "team_id": team},
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def payload_form(payload: dict[str, Any]) -> str:
    """The form body Slack posts an interaction payload in."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)})
