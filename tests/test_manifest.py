"""manifest.yml is a valid Slack app manifest that points Slack at the bot."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

REPO = Path(__file__).resolve().parents[1]
# Slack's schema, copied into the repository with its licence (see tests/data/README.md).
SCHEMA = Path(__file__).resolve().parent / "data" / "slack-manifest.schema.1.0.0.json"
ALLOWED_BOT_SCOPES = {"commands", "chat:write", "chat:write.public", "usergroups:read"} | {
    "channels:read",  # doctor: conversations.info
    "groups:read",  # doctor: conversations.info of a private channel the bot is in
    "users:read",  # doctor: users.info
    "users:read.email",  # the decider's email in audit rows and upstream events
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load((REPO / "manifest.yml").read_text())


def test_manifest_matches_slacks_schema(manifest: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    errors = sorted(Draft7Validator(schema).iter_errors(manifest), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_slash_command_and_interactivity_reach_the_events_endpoint(
    manifest: dict[str, Any],
) -> None:
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/simsid"
    assert command["url"].endswith("/slack/events")
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/slack/events")


def test_bot_asks_only_for_the_scopes_it_uses(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes["bot"]) <= ALLOWED_BOT_SCOPES
    assert "user" not in scopes, "the bot acts as itself, never as a user"


def test_home_tab_and_its_event_reach_the_events_endpoint(manifest: dict[str, Any]) -> None:
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    events = manifest["settings"]["event_subscriptions"]
    assert events["request_url"].endswith("/slack/events")
    assert events["bot_events"] == ["app_home_opened", "app_uninstalled", "tokens_revoked"]
