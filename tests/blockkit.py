"""Slack's Block Kit rules, asserted in tests: the views build plain dicts, unchecked at run time.

The rules themselves live in bot/sandbox/blockkit.py (Block Kit's JSON Schema plus the rules a
schema cannot say), which the Slack stand-in also applies to every call. Here they become
assertions that print Slack's own wording, and the output must also parse through
slack_sdk's typed models back to the same JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.sandbox.blockkit import (
    MESSAGE_BLOCKS_MAX,
    VIEW_BLOCKS_MAX,
    blocks_problems,
    message_problems,
    view_problems,
)


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object inside a serialised message."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def _plain_json(node: Any) -> None:
    # Plain JSON only: no enums or other str subclasses that a JSON encoder might
    # one day render differently.
    assert json.loads(json.dumps(node)) == node
    for obj in walk(node):
        for key, value in obj.items():
            assert type(key) is str
            assert type(value) in (str, int, bool, dict, list), (key, type(value))


def accepted(problems: list[str]) -> None:
    """Assert Slack would accept the payload; the failure lists what Slack would say."""
    assert not problems, "Slack would refuse this payload:\n" + "\n".join(problems)


def check_blocks(blocks: list[dict[str, Any]], max_blocks: int = MESSAGE_BLOCKS_MAX) -> None:
    """Blocks Slack accepts that slack_sdk parses back to the same JSON."""
    accepted(blocks_problems(blocks, max_blocks))
    _plain_json(blocks)
    assert [b.to_dict() for b in Block.parse_all(blocks)] == blocks


def check_message(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A chat message body ({"text", "blocks"}) Slack accepts; its blocks."""
    # With blocks Slack would take no text, but notifications and screen readers need one.
    assert message["text"].strip()
    accepted(message_problems(message))
    check_blocks(message["blocks"])
    return list(message["blocks"])


def check_view(view: dict[str, Any]) -> list[dict[str, Any]]:
    """A modal or App Home view Slack accepts; its blocks."""
    assert view["type"] in ("modal", "home")
    accepted(view_problems(view))
    assert View(**view).to_dict() == view
    check_blocks(view["blocks"], VIEW_BLOCKS_MAX)
    return list(view["blocks"])
