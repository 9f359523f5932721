"""Channel notices: a scheduled reconciliation with SIMS ID's list, a maintenance window's end."""

from __future__ import annotations

from typing import Any

from bot.reconcile.notice import Example, Notice
from bot.slack.views.blocks import context, header, section, text_sections
from bot.slack.views.common import Message, message
from bot.slack.views.text import clip, code, escape, literal

NAME_MAX = 80


def _line(example: Example) -> str:
    app = clip(literal(example.application), NAME_MAX)
    site = clip(literal(example.site), NAME_MAX)
    return f"• *{escape(example.kind)}*: {app} at {site}"


def reconcile_notice(notice: Notice) -> Message:
    """What a scheduled reconciliation changed, or why it refused to (bot/reconcile/notice.py)."""
    source = code(notice.source)
    examples = [_line(e) for e in notice.examples]
    more = notice.total - len(examples)
    tail = [f"…and {more:,} more: `simsid-bot reconcile` lists them all."] if more > 0 else []
    if notice.refused is not None:
        reason = clip(literal(notice.refused), 2500)
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
    summary = ", ".join(f"{n:,} {escape(kind)}" for kind, n in notice.changed.items()) or "nothing"
    blocks = [
        header("Reconciled with SIMS ID"),
        section(f":arrows_counterclockwise: The bot now agrees with SIMS ID's list: {summary}."),
        *text_sections(examples + tail),
    ]
    if notice.skipped:
        blocks.append(
            context(
                f"{notice.skipped:,} changed in Slack meanwhile; the next run looks at them again."
            )
        )
    blocks.append(context(f"Source: {source}. Every change is in the audit log as SIMS ID."))
    return message(f"Reconciled with SIMS ID: {summary}", blocks)


def window_notice(payload: dict[str, Any]) -> Message:
    """A maintenance window ended: the installation is enabled again (store/windows.py)."""
    app = clip(literal(str(payload.get("application", ""))), NAME_MAX)
    site = clip(literal(str(payload.get("site", ""))), NAME_MAX)
    by = str(payload.get("created_by", ""))
    who = f" (window set by <@{by}>)" if by.isalnum() else ""
    text = f":wrench: Maintenance over: *{app}* is enabled again for *{site}*{who}."
    return message(f"Maintenance over: {app} is enabled again for {site}", [section(text)])
