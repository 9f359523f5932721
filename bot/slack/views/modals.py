"""Modals: asking why before Disable and Remove, and saying what happened instead.

Built as plain dicts, the form views.open and response_action take.
"""

from __future__ import annotations

from typing import Any

from bot.slack.ids import BlockId, CallbackId, ReasonAsk, encode_reason_ask
from bot.slack.views.text import clip, escape, mention, unescape
from store.queries import InstallationInfo, SiteRef

REASON_MAX = 500  # a reason is a sentence or two, kept whole in the audit log
TITLE_MAX = 24  # Slack's limit on a modal's title
MODAL_BUTTON_MAX = 24
TEXT_MAX = 3000


def plain(text: str, limit: int = TEXT_MAX) -> dict[str, Any]:
    """plain_text from escaped text, unescaped: Slack shows plain text exactly as sent."""
    return {"type": "plain_text", "text": clip(unescape(text), limit) or " ", "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: no automatic links or @here from names (see common.mrkdwn).
    return {"type": "mrkdwn", "text": clip(text, TEXT_MAX) or " ", "verbatim": True}


def mrkdwn_section(text: str) -> dict[str, Any]:
    """A section of mrkdwn that must already be escaped."""
    return {"type": "section", "text": _mrkdwn(text)}


def context_block(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def _reason_input(*, required: bool, placeholder: str) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": BlockId.REASON.value,
        "optional": not required,
        "label": plain("Reason"),
        "hint": plain("Kept in the audit log, shown on the install message and sent to SIMS ID."),
        "element": {
            "type": "plain_text_input",
            "action_id": "simsid_reason_text",
            "multiline": True,
            "max_length": REASON_MAX,
            "placeholder": plain(placeholder, 150),
        },
    }


def _modal(ask: ReasonAsk, title: str, submit: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": CallbackId.REASON.value,
        "private_metadata": encode_reason_ask(ask),
        "title": plain(title, TITLE_MAX),
        "submit": plain(submit, MODAL_BUTTON_MAX),
        "close": plain("Cancel", MODAL_BUTTON_MAX),
        "blocks": blocks,
    }


def _names(info: InstallationInfo) -> tuple[str, str]:
    return escape(info.app.name), escape(info.site.name)


def disable_modal(info: InstallationInfo, ask: ReasonAsk) -> dict[str, Any]:
    """Disable one installation, with an optional reason."""
    app, site = _names(info)
    blocks = [
        mrkdwn_section(
            f"Disable *{app}* for *{site}*? Data stops flowing until it is enabled again; "
            "its client key and secret are kept."
        ),
        _reason_input(required=False, placeholder="Maintenance, billing, installed by mistake…"),
    ]
    return _modal(ask, "Disable installation", "Disable", blocks)


def remove_modal(info: InstallationInfo, ask: ReasonAsk, *, two_person: bool) -> dict[str, Any]:
    """Remove one installation (or, with the two-person rule, ask to): a reason is required."""
    app, site = _names(info)
    text = (
        f"*{site}* loses access to *{app}* and its client secret is destroyed. "
        "To use it again the school must install it again."
    )
    if two_person:
        text += "\nAnother admin must confirm before it is removed."
    blocks = [
        mrkdwn_section(text),
        _reason_input(required=True, placeholder="No longer a customer, installed by mistake…"),
    ]
    if two_person:
        return _modal(ask, "Ask to remove", "Ask to remove", blocks)
    return _modal(ask, "Remove installation", "Remove", blocks)


def disable_all_modal(site: SiteRef, ask: ReasonAsk) -> dict[str, Any]:
    """Disable every enabled application of one customer, with an optional reason."""
    name = escape(site.name or site.id)
    blocks = [
        mrkdwn_section(
            f"Disable every application *{name}* has enabled? Data stops flowing to each "
            "until it is enabled again; keys and secrets are kept."
        ),
        _reason_input(required=False, placeholder="Maintenance, billing…"),
    ]
    return _modal(ask, "Disable all", "Disable all", blocks)


def outcome_modal(title: str, text: str) -> dict[str, Any]:
    """What happened instead, shown in place of the form (response_action "update")."""
    return {
        "type": "modal",
        "callback_id": CallbackId.OUTCOME.value,
        "title": plain(title, TITLE_MAX),
        "close": plain("Close", MODAL_BUTTON_MAX),
        "blocks": [mrkdwn_section(text)],
    }


def removal_requested_line(requested_by: str, reason: str | None) -> str:
    """ "<@U1> asked to remove it: reason" (escaped), for messages and the Home tab."""
    said = f": {clip(escape(reason), REASON_MAX)}" if reason else ""
    return f":warning: {mention(requested_by)} asked to remove it{said}"
