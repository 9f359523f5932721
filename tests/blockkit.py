"""Slack's Block Kit rules, checked in tests: the views build plain dicts, unchecked at run time.

`check_blocks` and `check_view` parse the output through slack_sdk's typed models (whose
`to_dict()` runs slack_sdk's own validators) and then check the limits Slack enforces
that slack_sdk does not, so a view that would be refused by Slack fails a test instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
TEXT_MAX = 3000
FIELD_MAX = 2000
HEADER_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
ID_MAX = 255  # action_id, block_id, callback_id
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
CONFIRM_BUTTON_MAX = 30
ACTIONS_ELEMENTS_MAX = 25
CONTEXT_ELEMENTS_MAX = 10
FIELDS_MAX = 10
VIEW_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object inside a serialised message."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def _check_tree(blocks: list[dict[str, Any]]) -> None:
    # Plain JSON only: no enums or other str subclasses that a JSON encoder might
    # one day render differently.
    assert json.loads(json.dumps(blocks)) == blocks
    for obj in walk(blocks):
        for key, value in obj.items():
            assert type(key) is str
            assert type(value) in (str, int, bool, dict, list), (key, type(value))
        kind = obj.get("type")
        if kind in ("mrkdwn", "plain_text"):
            assert 0 < len(obj["text"]) <= TEXT_MAX
        if kind == "header":
            assert 0 < len(obj["text"]["text"]) <= HEADER_MAX
        if kind == "section":
            assert 0 < len(obj["text"]["text"]) <= TEXT_MAX
            fields = obj.get("fields", [])
            assert len(fields) <= FIELDS_MAX
            assert all(0 < len(f["text"]) <= FIELD_MAX for f in fields)
        if kind == "context":
            assert 0 < len(obj["elements"]) <= CONTEXT_ELEMENTS_MAX
        if kind == "button":
            assert 0 < len(obj["text"]["text"]) <= BUTTON_TEXT_MAX
            assert 0 < len(obj["action_id"]) <= ID_MAX
            assert len(obj.get("value", "")) <= BUTTON_VALUE_MAX
            assert obj.get("style") in (None, "primary", "danger")
        if kind == "actions":
            assert 0 < len(obj["elements"]) <= ACTIONS_ELEMENTS_MAX
            ids = [e["action_id"] for e in obj["elements"]]
            assert len(ids) == len(set(ids)), "action_ids must be unique within a block"
        if "block_id" in obj:
            assert 0 < len(obj["block_id"]) <= ID_MAX
        if kind == "button" and "confirm" in obj:
            dialog = obj["confirm"]
            assert 0 < len(dialog["title"]["text"]) <= CONFIRM_TITLE_MAX
            assert 0 < len(dialog["text"]["text"]) <= CONFIRM_TEXT_MAX
            assert 0 < len(dialog["confirm"]["text"]) <= CONFIRM_BUTTON_MAX
            assert 0 < len(dialog["deny"]["text"]) <= CONFIRM_BUTTON_MAX
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids)), "block_ids must be unique"


def check_blocks(blocks: list[dict[str, Any]], max_blocks: int = MAX_MESSAGE_BLOCKS) -> None:
    """Blocks that slack_sdk parses back to the same JSON and that keep Slack's limits."""
    assert 0 < len(blocks) <= max_blocks
    # to_dict() runs slack_sdk's validators (lengths, required fields, enums).
    assert [b.to_dict() for b in Block.parse_all(blocks)] == blocks
    _check_tree(blocks)


def check_message(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A chat message body ({"text", "blocks"}); its blocks."""
    assert message["text"].strip()
    assert len(message["text"]) <= TEXT_MAX
    check_blocks(message["blocks"])
    return list(message["blocks"])


def check_view(view: dict[str, Any]) -> list[dict[str, Any]]:
    """A modal or App Home view; its blocks."""
    assert view["type"] in ("modal", "home")
    assert View(**view).to_dict() == view
    if view["type"] == "modal":
        assert 0 < len(view["title"]["text"]) <= VIEW_TITLE_MAX
    assert len(view.get("private_metadata", "")) <= PRIVATE_METADATA_MAX
    assert len(view.get("callback_id", "")) <= ID_MAX
    check_blocks(view["blocks"], MAX_VIEW_BLOCKS)
    return list(view["blocks"])
