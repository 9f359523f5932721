"""The message type and the Block Kit pieces every surface shares, kept within Slack's limits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

from bot.slack.ids import (
    BUTTON_FOR,
    ActionId,
    BlockId,
    encode_installation,
    encode_page,
    install_block_id,
)
from bot.slack.views.blocks import MAX_BLOCKS, Block, button, confirm, context
from bot.slack.views.blocks import actions as actions_block
from bot.slack.views.text import clip, literal
from store.lifecycle import Action, allowed_actions
from store.queries import InstallationInfo, Page, SiteRef

NAME_IN_DIALOG = 60  # a long name must not push the warning out of a 300-character dialog
FALLBACK_MAX = 3000

_BUTTON_LABELS = {
    Action.APPROVE: "Approve",
    Action.ENABLE: "Enable",
    Action.DISABLE: "Disable",
    Action.REMOVE: "Remove",
}
_BUTTON_STYLES = {Action.APPROVE: "primary", Action.ENABLE: "primary", Action.REMOVE: "danger"}


T = TypeVar("T")


class MessageBody(TypedDict):
    """A message as the keyword arguments of chat.postMessage, respond() and ack()."""

    text: str
    blocks: list[dict[str, Any]]


@dataclass(frozen=True)
class Message:
    """A message body: blocks, and the plain fallback Slack shows in notifications."""

    text: str
    blocks: list[Block]

    def to_dict(self) -> MessageBody:
        return {"text": self.text, "blocks": self.blocks}


def message(text: str, blocks: list[Block]) -> Message:
    """A Message whose fallback is trimmed and whose size is checked once, here."""
    assert len(blocks) <= MAX_BLOCKS, f"{len(blocks)} blocks"
    return Message(clip(text, FALLBACK_MAX) or " ", blocks)


def site_line(site: SiteRef) -> str:
    """ "*Oakfield Primary* · URN 123456 · DfE 823/4001", escaped."""
    labels = [f"*{literal(site.name or site.id)}*"]
    if site.urn:
        labels.append(f"URN {literal(site.urn)}")
    if site.dfe_number:
        labels.append(f"DfE {literal(site.dfe_number)}")
    return " · ".join(labels)


def _confirm_removal(info: InstallationInfo) -> Block:
    site = clip(literal(info.site.name), NAME_IN_DIALOG)
    app = clip(literal(info.app.name), NAME_IN_DIALOG)
    return confirm(
        f"Remove from {site}?",
        f"*{site}* loses access to *{app}* and its client secret is destroyed. "
        "To use it again the school must install it again.",
        "Remove",
    )


def installation_buttons(
    info: InstallationInfo, actions: Iterable[Action] | None = None
) -> Block | None:
    """The buttons valid in the installation's state (only `actions`, if given); None if none.

    Disable and Remove open a modal asking why, so they need no confirm dialog. While a
    removal request waits for a second admin, Remove gives way to Confirm removal and Cancel.
    """
    wanted = set(Action) if actions is None else set(actions)
    value = encode_installation(info.id, info.version)
    elements = [
        button(_BUTTON_LABELS[action], BUTTON_FOR[action], value, style=_BUTTON_STYLES.get(action))
        for action in allowed_actions(info.state)
        if action in wanted and not (action is Action.REMOVE and info.removal is not None)
    ]
    if info.disabled_until is not None and Action.ENABLE in wanted:
        elements.append(button("Extend", ActionId.EXTEND, value))
    if info.removal is not None and Action.REMOVE in wanted:
        elements += [
            button(
                "Confirm removal",
                ActionId.CONFIRM_REMOVAL,
                value,
                style="danger",
                confirm=_confirm_removal(info),
            ),
            button("Cancel removal", ActionId.CANCEL_REMOVAL, value),
        ]
    if not elements:
        return None
    return actions_block(install_block_id(info.id), elements)


def pager(command: str, arg: str, page: Page[T], shown: int | None = None) -> Block | None:
    """Previous and Next buttons, each only when there is such a page; None if neither.

    `shown` is how many of the page's items made it into the message, so that Next
    starts at the first item left out rather than skipping it. The buttons carry the
    cursor of the first item (Previous) or of the last one shown (Next).
    """
    shown = len(page.items) if shown is None else shown
    elements = []
    if page.has_previous:
        back = encode_page(command, arg, before=page.keys[0]) if page.keys else None
        # No item to go back from (they went meanwhile): the first page.
        elements.append(
            button("Previous", ActionId.PAGE_PREVIOUS, back or encode_page(command, arg))
        )
    if (page.has_more or shown < len(page.items)) and 0 < shown <= len(page.keys):
        ahead = encode_page(command, arg, after=page.keys[shown - 1])
        elements.append(button("Next", ActionId.PAGE, ahead))
    return actions_block(BlockId.PAGER, elements) if elements else None


def assemble(
    head: Sequence[Block],
    groups: Sequence[Sequence[Block]],
    tail: Sequence[Block] = (),
    *,
    paging: tuple[str, str, Page[T]] | None = None,
    more: str = "",
) -> list[Block]:
    """`head`, as many item `groups` as fit within MAX_BLOCKS, then `tail` and the pager.

    Items that do not fit are dropped from the end, with a context line saying how
    many (and `more`, a hint where to find them); with `paging`, Next starts at them.
    """
    reserved = len(tail) + 2  # the "more" line and the pager
    budget = MAX_BLOCKS - len(head) - reserved
    assert budget >= 0, "head and tail alone exceed MAX_BLOCKS"
    body: list[Block] = []
    shown = 0
    for group in groups:
        if len(body) + len(group) > budget:
            break
        body.extend(group)
        shown += 1
    blocks = [*head, *body]
    dropped = len(groups) - shown
    if dropped:
        note = f"{dropped:,} more not shown here"
        blocks.append(context(f"{note}{': ' + more if more else '.'}"))
    blocks.extend(tail)
    if paging is not None:
        command, arg, page = paging
        pages = pager(command, arg, page, shown)
        if pages is not None:
            blocks.append(pages)
    assert len(blocks) <= MAX_BLOCKS
    return blocks
