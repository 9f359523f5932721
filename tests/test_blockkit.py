"""The Block Kit checker refuses what Slack refuses, in Slack's words (bot/sandbox/blockkit.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.sandbox.blockkit import message_problems, view_problems

SECTION = {"type": "section", "block_id": "s1", "text": {"type": "mrkdwn", "text": "*Oakfield*"}}
APPROVE = {"type": "plain_text", "text": "Approve"}
BUTTON = {"type": "button", "action_id": "a1", "value": "1", "text": APPROVE}
ACTIONS = {"type": "actions", "block_id": "b1", "elements": [BUTTON]}
MESSAGE = {"text": "Oakfield", "blocks": [SECTION, ACTIONS]}
MODAL = {
    "type": "modal",
    "callback_id": "simsid_reason",
    "private_metadata": "{}",
    "title": {"type": "plain_text", "text": "Disable installation"},
    "submit": {"type": "plain_text", "text": "Disable"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [SECTION],
}
HOME = {"type": "home", "blocks": [SECTION, ACTIONS]}


def changed(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `payload` with the value at `path` ("blocks/1/elements/0") set."""
    out = copy.deepcopy(payload)
    *parents, last = path.split("/")
    node: Any = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


def test_good_payloads_pass() -> None:
    assert message_problems(MESSAGE) == []
    assert view_problems(MODAL, "modal") == []
    assert view_problems(HOME, "home") == []
    # chat.update may clear the blocks with an empty list, or send text alone.
    assert message_problems({"text": "Approved", "blocks": []}) == []
    assert message_problems({"text": "Approved"}) == []


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        pytest.param(
            {**MESSAGE, "blocks": [SECTION, {**SECTION, "text": {"type": "mrkdwn", "text": "x"}}]},
            '[ERROR] duplicate block_id "s1" [json-pointer:/blocks/1/block_id]',
            id="duplicate-block_id",
        ),
        pytest.param(
            changed(MESSAGE, "blocks/1/elements", [BUTTON, {**BUTTON, "value": "2"}]),
            '[ERROR] duplicate action_id "a1" [json-pointer:/blocks/1/elements/1/action_id]',
            id="duplicate-action_id-in-a-block",
        ),
        pytest.param(
            changed(MESSAGE, "blocks/1/elements/0/text/text", "x" * 76),
            "[ERROR] must be less than 76 characters [json-pointer:/blocks/1/elements/0/text/text]",
            id="76-character-button",
        ),
        pytest.param(
            changed(MESSAGE, "blocks/0/colour", "red"),
            '[ERROR] unknown key "colour" [json-pointer:/blocks/0]',
            id="unknown-key",
        ),
        pytest.param(
            changed(MESSAGE, "blocks/0/text/text", ""),
            "[ERROR] must be more than 0 characters [json-pointer:/blocks/0/text/text]",
            id="empty-text",
        ),
        pytest.param(
            changed(MESSAGE, "blocks/0/type", "sektion"),
            '[ERROR] unsupported type "sektion" [json-pointer:/blocks/0/type]',
            id="unknown-block-type",
        ),
        pytest.param(
            {
                "text": "x",
                "blocks": [{**SECTION, "block_id": f"s{i}"} for i in range(51)],
            },
            "[ERROR] must have no more than 50 blocks [json-pointer:/blocks]",
            id="51-blocks-in-a-message",
        ),
        pytest.param(
            {"text": "x" * 40_001},
            "[ERROR] must be less than 40001 characters [json-pointer:/text]",
            id="text-too-long",
        ),
    ],
)
def test_bad_messages_are_refused(bad: dict[str, Any], said: str) -> None:
    assert said in message_problems(bad)


@pytest.mark.parametrize(
    ("bad", "kind", "said"),
    [
        pytest.param(
            changed(MODAL, "title", {"type": "plain_text", "text": "x" * 25}),
            "modal",
            "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]",
            id="25-character-modal-title",
        ),
        pytest.param(
            changed(MODAL, "submit", {"type": "plain_text", "text": "x" * 25}),
            "modal",
            "[ERROR] must be less than 25 characters [json-pointer:/view/submit/text]",
            id="25-character-submit",
        ),
        pytest.param(
            changed(MODAL, "close", {"type": "plain_text", "text": "x" * 25}),
            "modal",
            "[ERROR] must be less than 25 characters [json-pointer:/view/close/text]",
            id="25-character-close",
        ),
        pytest.param(
            changed(MODAL, "private_metadata", "x" * 3001),
            "modal",
            "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]",
            id="private_metadata-over-3000",
        ),
        pytest.param(
            changed(MODAL, "callback_id", "x" * 256),
            "modal",
            "[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]",
            id="callback_id-over-255",
        ),
        pytest.param(
            changed(HOME, "blocks", [{**SECTION, "block_id": f"s{i}"} for i in range(101)]),
            "home",
            "[ERROR] must have no more than 100 blocks [json-pointer:/view/blocks]",
            id="101-blocks-in-a-home-tab",
        ),
        pytest.param(
            changed(HOME, "blocks", [SECTION, SECTION]),
            "home",
            '[ERROR] duplicate block_id "s1" [json-pointer:/view/blocks/1/block_id]',
            id="duplicate-block_id-in-a-view",
        ),
        pytest.param(
            changed(HOME, "title", {"type": "plain_text", "text": "Home"}),
            "home",
            '[ERROR] unknown key "title" [json-pointer:/view]',
            id="home-with-a-title",
        ),
        pytest.param(
            MODAL,
            "home",
            "[ERROR] type must be home [json-pointer:/view/type]",
            id="modal-published-as-home",
        ),
    ],
)
def test_bad_views_are_refused(bad: dict[str, Any], kind: str, said: str) -> None:
    assert said in view_problems(bad, kind)
