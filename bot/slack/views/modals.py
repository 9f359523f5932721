"""Modals: asking why before Disable and Remove, and saying what happened instead.

Plain dicts from views/blocks.py, the form views.open and response_action take.
"""

from __future__ import annotations

from typing import Any

from bot.slack.ids import ActionId, BlockId, CallbackId, ReasonAsk, encode_reason_ask
from bot.slack.views.blocks import Block, datetime_input, modal, text_input
from bot.slack.views.blocks import section as mrkdwn_section
from bot.slack.views.text import clip, literal, mention
from store.queries import InstallationInfo, SiteRef

REASON_MAX = 500  # a reason is a sentence or two, kept whole in the audit log


def _reason_input(*, required: bool, placeholder: str) -> Block:
    return text_input(
        BlockId.REASON,
        "simsid_reason_text",
        label="Reason",
        hint="Kept in the audit log, shown on the install message and sent to SIMS ID.",
        placeholder=placeholder,
        max_length=REASON_MAX,
        optional=not required,
    )


def _until_input(*, required: bool, initial: int | None = None) -> Block:
    return datetime_input(
        BlockId.UNTIL,
        ActionId.UNTIL_INPUT,
        label="Enable again at",
        hint="A maintenance window: the bot enables it again then, unless someone changed "
        "it meanwhile. Leave empty to keep it disabled.",
        optional=not required,
        initial=initial,
    )


def _modal(ask: ReasonAsk, title: str, submit: str, blocks: list[Block]) -> dict[str, Any]:
    return modal(
        CallbackId.REASON,
        title,
        blocks,
        submit=submit,
        close="Cancel",
        private_metadata=encode_reason_ask(ask),
    )


def _names(info: InstallationInfo) -> tuple[str, str]:
    return literal(info.app.name), literal(info.site.name)


def disable_modal(info: InstallationInfo, ask: ReasonAsk) -> dict[str, Any]:
    """Disable one installation, with an optional reason."""
    app, site = _names(info)
    blocks = [
        mrkdwn_section(
            f"Disable *{app}* for *{site}*? Data stops flowing until it is enabled again; "
            "its client key and secret are kept."
        ),
        _reason_input(required=False, placeholder="Maintenance, billing, installed by mistake…"),
        _until_input(required=False),
    ]
    return _modal(ask, "Disable installation", "Disable", blocks)


def extend_modal(info: InstallationInfo, ask: ReasonAsk, until: int | None) -> dict[str, Any]:
    """Move the end of a maintenance window (`until`: its end now, in Unix seconds)."""
    app, site = _names(info)
    blocks = [
        mrkdwn_section(f"When should *{app}* be enabled again for *{site}*?"),
        _until_input(required=True, initial=until),
    ]
    return _modal(ask, "Extend maintenance", "Extend", blocks)


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
    name = literal(site.name or site.id)
    blocks = [
        mrkdwn_section(
            f"Disable every application *{name}* has enabled? Data stops flowing to each "
            "until it is enabled again; keys and secrets are kept."
        ),
        _reason_input(required=False, placeholder="Maintenance, billing…"),
        _until_input(required=False),
    ]
    return _modal(ask, "Disable all", "Disable all", blocks)


def outcome_modal(title: str, text: str) -> dict[str, Any]:
    """What happened instead, shown in place of the form (response_action "update")."""
    return modal(CallbackId.OUTCOME, title, [mrkdwn_section(text)], close="Close")


def removal_requested_line(requested_by: str, reason: str | None) -> str:
    """ "<@U1> asked to remove it: reason" (escaped), for messages and the Home tab."""
    said = f": {clip(literal(reason), REASON_MAX)}" if reason else ""
    return f":warning: {mention(requested_by)} asked to remove it{said}"
