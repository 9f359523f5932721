"""The install message: one installation in its channel, updated in place after each change."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.slack.ids import ActionId, BlockId, encode_outbox
from bot.slack.views.blocks import Block, actions, button, context, header, section
from bot.slack.views.common import Message, installation_buttons, message
from bot.slack.views.modals import REASON_MAX, removal_requested_line
from bot.slack.views.text import (
    clip,
    escape,
    format_time,
    literal,
    mention,
    state_label,
    state_verb,
    state_word,
)
from store.models import State
from store.queries import InstallationInfo, UpstreamStatus

ERROR_MAX = 500  # an upstream error is a hint, not a log


def changed_line(info: InstallationInfo, tz: ZoneInfo) -> str:
    """ "Disabled by <@U1> at 27 Nov 2026 09:00 GMT: billing", the reason when one was given."""
    line = (
        f"{state_verb(info.state)} by {mention(info.changed_by or '')} "
        f"at {format_time(info.changed_at, tz)}"
    )
    if info.change_reason:
        line += f": {clip(literal(info.change_reason), REASON_MAX)}"
    return line


def until_line(until: datetime, tz: ZoneInfo) -> str:
    """A maintenance window's end, as the install message and the Home tab show it."""
    return (
        f":wrench: Disabled until {format_time(until, tz)}: the bot enables it again then. "
        "Enable now ends the window early."
    )


def removal_request_line(info: InstallationInfo, tz: ZoneInfo) -> str | None:
    """Who asked to remove it, when and why (or that the request is void); None when
    nobody has."""
    if info.removal is None:
        if info.void_removal is None:
            return None
        void = info.void_removal
        return (
            f"{removal_requested_line(void.requested_by, void.reason)}. "
            f":no_entry_sign: Void: {mention(void.requested_by)} is no longer a SIMS ID admin, "
            "so nothing was removed. A fresh request is needed."
        )
    asked = removal_requested_line(info.removal.requested_by, info.removal.reason)
    return (
        f"{asked} (at {format_time(info.removal.requested_at, tz)}). "
        "Another admin must confirm the removal."
    )


def _upstream_blocks(status: UpstreamStatus) -> list[Block]:
    error = clip(literal(status.last_error or ""), ERROR_MAX)
    if status.status == "applied":
        return [context(":white_check_mark: Applied upstream")]
    if status.status == "failed":
        retry = button("Retry", ActionId.RETRY_UPSTREAM, encode_outbox(status.outbox_id))
        return [
            context(f":x: Upstream refused this decision: {error or 'no reason given'}"),
            actions(BlockId.UPSTREAM_ACTIONS, [retry]),
        ]
    if status.attempts == 0:
        # Not tried yet: just decided, retried by an admin, or queued behind an earlier
        # decision of this installation. "try 0" would read as if something had been tried.
        return [context(":hourglass: Waiting to reach upstream")]
    waiting = f":hourglass: Waiting to reach upstream: try {status.attempts}"
    return [context(f"{waiting}, last error: {error}" if error else waiting)]


def elsewhere_line(channel: str, error: str | None) -> str:
    """Where a message posted to the default channel belonged, and why it is not there."""
    why = f" (Slack said `{escape(error)}`)" if error else ""
    return f":warning: This belongs in <#{channel}>, which refused it{why}: posted here instead."


def install_message(
    info: InstallationInfo, tz: ZoneInfo, *, elsewhere: tuple[str, str | None] | None = None
) -> Message:
    """The channel message for one installation, with the buttons valid in its state;
    `elsewhere` (channel, Slack's error) when it stands in for a channel that refused it."""
    site, app = literal(info.site.name), literal(info.app.name)
    blocks: list[Block] = [
        header(f"New install: {app}"),
        section(
            f"*{site}*",
            fields=[
                f"*URN*\n{literal(info.site.urn or '—')}",
                f"*DfE number*\n{literal(info.site.dfe_number or '—')}",
                f"*Application*\n{app}",
                f"*State*\n{state_label(info.state)}",
            ],
        ),
    ]
    if info.changed_by is not None:
        blocks.append(context(changed_line(info, tz)))
    if info.disabled_until is not None:
        blocks.append(section(until_line(info.disabled_until, tz)))
    request = removal_request_line(info, tz)
    if request is not None:
        blocks.append(section(request))
    if info.state is State.ENABLED and info.app.sims_primary:
        blocks.append(
            section(
                ":information_source: This application uses the SIMS Primary integration: "
                f"contact partner support to enable it for *{site}*."
            )
        )
    if info.upstream is not None:
        blocks.extend(_upstream_blocks(info.upstream))
    if elsewhere is not None:
        blocks.append(context(elsewhere_line(*elsewhere)))
    if info.state is not State.REMOVED:
        buttons = installation_buttons(info)
        if buttons is not None:
            blocks.append(buttons)
    return message(f"{site}: {app} is {state_word(info.state)}", blocks)


def install_minimal(info: InstallationInfo) -> Message:
    """The install message in its least form (one line naming the site, application and
    state, and the buttons), for when Slack refuses the full one: the request still
    reaches someone who can act on it."""
    line = f"*{literal(info.site.name)}*: {literal(info.app.name)} is {state_word(info.state)}"
    blocks: list[Block] = [section(line)]
    buttons = installation_buttons(info) if info.state is not State.REMOVED else None
    if buttons is not None:
        blocks.append(buttons)
    return message(line, blocks)
