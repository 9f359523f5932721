"""Deciding from a list: the modal taking the list, its preview, the outcome and the
channel's summary of the batch."""

from __future__ import annotations

from typing import Any

from bot.slack.ids import (
    ActionId,
    BlockId,
    CallbackId,
    DecideAsk,
    decide_ids_block,
    encode_decide,
)
from bot.slack.views.blocks import (
    Block,
    actions,
    button,
    context,
    header,
    modal,
    section,
    text_input,
    text_sections,
)
from bot.slack.views.common import Message, message
from bot.slack.views.modals import REASON_MAX
from bot.slack.views.text import clip, literal, mention, plural
from store.decide import BatchResult, Preview

LIST_FIELDS = 4  # text fields of 3,000 characters (Slack's most): about 1,500 identifiers
FIELD_MAX = 3000
SHOWN = 25  # lines of each kind in the preview and the summary; the counts are whole
_VERB = {"approve": ("Approve", "approved"), "disable": ("Disable", "disabled")}


def list_buttons(block_id: str, apps: list[tuple[str, str]]) -> Block | None:
    """An actions block of "Approve from a list" buttons, one per (application id, name:
    shown when several); None when no application's id fits a button value."""
    elements: list[Block] = []
    for app_id, name in apps:
        try:
            value = encode_decide(DecideAsk("approve", app_id))
        except ValueError:
            continue  # `/simsid approve APP` still opens its form
        # Slack wants action_ids unique within a block; the listener takes every suffix.
        action_id = ActionId.DECIDE_LIST + (f"_{len(elements)}" if elements else "")
        # A label is plain text, shown as typed: a name's < and > become lookalikes, so no
        # hostile name puts Slack's <!…> syntax into the view at all.
        shown = name.replace("<", "\u2039").replace(">", "\u203a")
        label = "Approve from a list" + (f": {literal(shown)}" if name else "")
        elements.append(button(clip(label, 70), action_id, value))
    return actions(block_id, elements) if elements else None


def list_modal(ask: DecideAsk, app_name: str) -> dict[str, Any]:
    """The list to paste: URNs and/or DfE numbers; Disable asks why too."""
    verb = _VERB[ask.kind][0].lower()
    blocks: list[Block] = [
        section(
            f"Paste the URNs and/or DfE numbers of the *{literal(app_name)}* schools to {verb}: "
            "one a line, or separated by commas or spaces. You see what they match before "
            "anything changes."
        )
    ]
    for n in range(LIST_FIELDS):
        blocks.append(
            text_input(
                decide_ids_block(n),
                ActionId.DECIDE_IDS_INPUT,
                label="URNs and DfE numbers" if n == 0 else f"More (part {n + 1})",
                hint=f"{FIELD_MAX:,} characters a field; a longer list: `simsid-bot decide`.",
                placeholder="100001, 823/4001…",
                max_length=FIELD_MAX,
                optional=n > 0,
            )
        )
    if ask.kind == "disable":
        blocks.append(
            text_input(
                BlockId.REASON,
                ActionId.REASON_INPUT,
                label="Reason",
                hint="Kept in the audit log, shown on each install message and sent to SIMS ID.",
                placeholder="Maintenance, billing…",
                max_length=REASON_MAX,
                optional=False,
            )
        )
    title = f"{_VERB[ask.kind][0]} from a list"
    return modal(
        CallbackId.DECIDE_LIST,
        title,
        blocks,
        submit="Preview",
        close="Cancel",
        private_metadata=encode_decide(ask),
    )


def _shown(lines: list[str], total: int) -> list[str]:
    more = total - len(lines)
    return lines + ([f"…and {more:,} more"] if more > 0 else [])


def preview_modal(ask: DecideAsk, result: Preview) -> dict[str, Any]:
    """What the list matches, and the button that makes exactly that change."""
    verb, done = _VERB[ask.kind]
    name = literal(result.application_name)
    count = len(result.eligible)
    blocks: list[Block] = [
        section(
            f"*{plural(count, 'installation')}* of *{name}* will be {done} "
            f"({plural(result.identifiers, 'identifier')} read)."
        )
    ]
    kinds = [
        (
            f"Will be {done}",
            [f"• {literal(m.identifier)}: {literal(m.site_name)}" for m in result.eligible],
        ),
        (
            "Left as they are",
            [
                f"• {literal(m.identifier)}: {literal(m.site_name)} is {m.state}"
                for m in result.ineligible
            ],
        ),
        ("Matching nothing", [f"• {literal(t)}" for t in result.unmatched]),
        (
            "Duplicates",
            [
                f"• {literal(d.identifier)}: same school as {literal(d.of)}"
                for d in result.duplicates
            ],
        ),
    ]
    for title, lines in kinds:
        if lines:
            blocks.append(header(f"{title}: {len(lines):,}"))
            blocks += text_sections(_shown(lines[:SHOWN], len(lines)))
    blocks.append(context("Changed since this preview? Then it is skipped, and named."))
    return modal(
        CallbackId.DECIDE_CONFIRM,
        "Preview",
        blocks,
        submit=f"{verb} {count:,}" if count else None,
        close="Cancel" if count else "Close",
        private_metadata=encode_decide(ask),
    )


def applied_text(done: BatchResult) -> str:
    """The outcome of a submitted preview, for the modal."""
    verb = _VERB[done.action.value][1]
    text = f"{plural(done.changed, 'installation')} of *{literal(done.application_name)}* {verb}."
    if done.skipped:
        names = ", ".join(literal(n) for n, _ in done.skipped[:SHOWN])
        text += f"\nSkipped, changed since the preview: {names}"
        if len(done.skipped) > SHOWN:
            text += f" …and {len(done.skipped) - SHOWN:,} more"
    return text


def decided_notice(payload: dict[str, Any]) -> Message:
    """The channel's one summary of a batch decided from a list (store/decide.py's payload)."""
    kind = str(payload.get("action", ""))
    verb, done = _VERB.get(kind, ("Decide", "decided"))
    app = clip(literal(str(payload.get("application", ""))), 80)
    changed = int(payload.get("changed", 0))
    actor = mention(str(payload.get("actor", "")))
    blocks: list[Block] = [
        header(f"{verb} from a list"),
        section(f"{actor} {done} {plural(changed, 'installation')} of *{app}* from a list."),
    ]
    skipped = payload.get("skipped") or []
    total = int(payload.get("skipped_total", len(skipped)))
    if skipped:
        lines = [f"• {literal(str(n))}: {literal(str(s))} now" for n, s in skipped]
        blocks.append(section("*Skipped*, changed since the preview:"))
        blocks += text_sections(_shown(lines, total))
    reason = payload.get("reason")
    said = f" · “{clip(literal(str(reason)), 300)}”" if reason else ""
    blocks.append(context(f"Batch `{literal(str(payload.get('batch', '')))}`{said}"))
    return message(f"{actor} {done} {changed:,} installations of {app} from a list", blocks)
