"""The channel message of a scheduled reconciliation with SIMS ID's list."""

from __future__ import annotations

from typing import Any

from bot.slack.views.blocks import context, header, section, text_sections
from bot.slack.views.common import Message, message
from bot.slack.views.text import clip, code, escape, literal

NAME_MAX = 80


def _line(example: dict[str, Any]) -> str:
    app = clip(literal(str(example.get("application", ""))), NAME_MAX)
    site = clip(literal(str(example.get("site", ""))), NAME_MAX)
    return f"• *{escape(str(example.get('kind', '')))}*: {app} at {site}"


def reconcile_notice(payload: dict[str, Any]) -> Message:
    """What a scheduled reconciliation changed, or why it refused to; from the outbox
    payload written by bot/reconcile/scheduled.py (plain data, no secrets)."""
    source = code(str(payload.get("source", "")))
    examples = [_line(e) for e in payload.get("examples", [])]
    total = int(payload.get("total", 0))
    more = total - len(examples)
    tail = [f"…and {more:,} more: `simsid-bot reconcile` lists them all."] if more > 0 else []
    if payload.get("notice") == "reconcile_refused":
        reason = clip(literal(str(payload.get("reason", ""))), 2500)
        blocks = [
            header("Reconciliation with SIMS ID refused"),
            section(f":warning: Nothing was changed. {reason}"),
            *text_sections(examples + tail),
            context(
                f"Source: {source}. If the list is right, run "
                "`simsid-bot reconcile SOURCE --apply --force`."
            ),
        ]
        return message("Reconciliation with SIMS ID refused: nothing was changed", blocks)
    changed = payload.get("changed", {})
    summary = ", ".join(f"{n:,} {escape(kind)}" for kind, n in changed.items()) or "nothing"
    blocks = [
        header("Reconciled with SIMS ID"),
        section(f":arrows_counterclockwise: The bot now agrees with SIMS ID's list: {summary}."),
        *text_sections(examples + tail),
    ]
    skipped = int(payload.get("skipped", 0))
    if skipped:
        blocks.append(
            context(f"{skipped:,} changed in Slack meanwhile; the next run looks at them again.")
        )
    blocks.append(context(f"Source: {source}. Every change is in the audit log as SIMS ID."))
    return message(f"Reconciled with SIMS ID: {summary}", blocks)
