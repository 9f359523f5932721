"""Block Kit as plain dicts: the one place that builds blocks, elements, text objects and
views (modals, the App Home).

slack_sdk's typed models validate on every `to_dict()` and cost more CPU than the rest of
an answer, so views build the JSON Slack wants directly, here and only here. Every text
is clipped to Slack's limit as it goes in; the guarantees (each view's output is one Slack
accepts, by Block Kit's schema and Slack's other rules in bot/sandbox/blockkit.py, and parses
through slack_sdk's models) live in tests/test_views*.py, and the Slack stand-in refuses
anything else in every other test.
Callers pass mrkdwn already escaped: what people typed through `text.literal`, the bot's
own words through `text.escape`; plain_text objects take the same text, unescaped here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.slack.views.text import clip, unescape

Block = dict[str, Any]
"""One Block Kit block (or element, or text object) as the JSON Slack takes."""

MAX_BLOCKS = 50
TEXT_MAX = 3000
FIELD_MAX = 2000
FIELDS_MAX = 10
HEADER_MAX = 150
BUTTON_TEXT_MAX = 75
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
CONFIRM_BUTTON_MAX = 30
ACTION_ID_MAX = 255
BLOCK_ID_MAX = 255
ACTIONS_ELEMENTS_MAX = 25
CONTEXT_ELEMENTS_MAX = 10
VIEW_BLOCKS_MAX = 100  # a modal or the Home tab
VIEW_TITLE_MAX = 24  # a modal's title, and its submit and close buttons
PLACEHOLDER_MAX = 150


def plain_text(text: str, limit: int, *, emoji: bool | None = None) -> Block:
    """A plain_text object from escaped text, unescaped (Slack shows plain text exactly as
    sent: "Tom &amp; Jerry" would read so) and clipped to `limit`, never empty; `emoji`
    left out unless given."""
    obj: Block = {"type": "plain_text", "text": clip(unescape(text), limit) or " "}
    if emoji is not None:
        obj["emoji"] = emoji
    return obj


def mrkdwn(text: str, limit: int = TEXT_MAX) -> Block:
    """Every mrkdwn object the bot sends, clipped to `limit`; `text` must already be escaped.

    verbatim: Slack would otherwise link bare URLs and channel names and parse @here in
    names from SIMS ID by itself; the <@U…> mentions the bot writes still work."""
    return {"type": "mrkdwn", "text": clip(text, limit), "verbatim": True}


def header(text: str) -> Block:
    return {"type": "header", "text": plain_text(text, HEADER_MAX, emoji=True)}


def section(text: str, fields: Sequence[str] = (), *, block_id: str | None = None) -> Block:
    """A mrkdwn section; `text` and `fields` must already be escaped."""
    block: Block = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip(text, TEXT_MAX) or " ", "verbatim": True},
    }
    if fields:
        block["fields"] = [mrkdwn(f, FIELD_MAX) for f in fields[:FIELDS_MAX]]
    if block_id is not None:
        block["block_id"] = str(block_id)
    return block


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text)]}


def divider() -> Block:
    return {"type": "divider"}


def actions(block_id: str, elements: Sequence[Block]) -> Block:
    """An actions block of buttons; its block_id must be unique within the message."""
    return {
        "type": "actions",
        "block_id": str(block_id),
        "elements": list(elements[:ACTIONS_ELEMENTS_MAX]),
    }


def button(
    label: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: Block | None = None,
) -> Block:
    """A button; `value` comes from bot.slack.ids, which keeps it within Slack's limit."""
    element: Block = {
        "type": "button",
        "text": plain_text(label, BUTTON_TEXT_MAX, emoji=True),
        "action_id": str(action_id),
        "value": value,
    }
    if style is not None:
        element["style"] = style
    if confirm is not None:
        element["confirm"] = confirm
    return element


def confirm(title: str, text: str, yes: str, *, danger: bool = True) -> Block:
    """A confirmation dialog; `text` is mrkdwn, already escaped."""
    return {
        "title": plain_text(title, CONFIRM_TITLE_MAX, emoji=True),
        "text": mrkdwn(text, CONFIRM_TEXT_MAX),
        "confirm": plain_text(yes, CONFIRM_BUTTON_MAX),
        "deny": plain_text("Cancel", CONFIRM_BUTTON_MAX),
        "style": "danger" if danger else "primary",
    }


def text_sections(lines: Iterable[str], limit: int = TEXT_MAX) -> list[Block]:
    """Lines packed into as few sections as Slack's 3,000 characters allow."""
    sections: list[Block] = []
    chunk = ""
    for raw in lines:
        line = clip(raw, limit)
        if chunk and len(chunk) + 1 + len(line) > limit:
            sections.append(section(chunk))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        sections.append(section(chunk))
    return sections


def text_input(
    block_id: str,
    action_id: str,
    *,
    label: str,
    hint: str,
    placeholder: str,
    max_length: int,
    optional: bool,
    multiline: bool = True,
) -> Block:
    """An input block holding a plain_text_input, for a modal."""
    return {
        "type": "input",
        "block_id": str(block_id),
        "optional": optional,
        "label": plain_text(label, TEXT_MAX, emoji=True),
        "hint": plain_text(hint, TEXT_MAX, emoji=True),
        "element": {
            "type": "plain_text_input",
            "action_id": str(action_id),
            "multiline": multiline,
            "max_length": max_length,
            "placeholder": plain_text(placeholder, PLACEHOLDER_MAX, emoji=True),
        },
    }


def datetime_input(
    block_id: str, action_id: str, *, label: str, hint: str, optional: bool, initial: int | None
) -> Block:
    """An input block holding a datetimepicker (Slack shows it in the viewer's time zone)."""
    element: Block = {"type": "datetimepicker", "action_id": str(action_id)}
    if initial is not None:
        element["initial_date_time"] = initial
    return {
        "type": "input",
        "block_id": str(block_id),
        "optional": optional,
        "label": plain_text(label, TEXT_MAX, emoji=True),
        "hint": plain_text(hint, TEXT_MAX, emoji=True),
        "element": element,
    }


def modal(
    callback_id: str,
    title: str,
    blocks: Sequence[Block],
    *,
    close: str,
    submit: str | None = None,
    private_metadata: str | None = None,
) -> Block:
    """A modal view (views.open, or a response_action's view)."""
    view: Block = {"type": "modal", "callback_id": str(callback_id)}
    if private_metadata is not None:
        view["private_metadata"] = private_metadata
    view["title"] = plain_text(title, VIEW_TITLE_MAX, emoji=True)
    if submit is not None:
        view["submit"] = plain_text(submit, VIEW_TITLE_MAX, emoji=True)
    view["close"] = plain_text(close, VIEW_TITLE_MAX, emoji=True)
    view["blocks"] = list(blocks)
    assert len(view["blocks"]) <= VIEW_BLOCKS_MAX, f"{len(view['blocks'])} blocks"
    return view


def home(blocks: Sequence[Block]) -> Block:
    """The App Home tab (views.publish)."""
    assert len(blocks) <= VIEW_BLOCKS_MAX, f"{len(blocks)} blocks"
    return {"type": "home", "blocks": list(blocks)}
