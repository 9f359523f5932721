"""The audit listing: who did what, and when."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.slack.views.blocks import Block, context, header, section
from bot.slack.views.common import Message, assemble, message
from bot.slack.views.text import clip, escape, format_time, literal, mention
from store.queries import AppRef, AuditLine, Page, SiteRef

DETAIL_MAX = 300


def _states(line: AuditLine) -> str:
    if line.from_state and line.to_state:
        return f" {escape(line.from_state)} → {escape(line.to_state)}"
    if line.to_state:
        return f" → {escape(line.to_state)}"
    if line.from_state:
        return f" (while {escape(line.from_state)})"
    return ""


def audit_line(line: AuditLine, tz: ZoneInfo, *, with_site: bool) -> str:
    """ "27 Nov 2026 09:00 GMT · <@U1> · *approve* pending → enabled · detail"."""
    who = mention(line.actor)
    if line.actor_email:
        who += f" ({literal(line.actor_email)})"
    parts = [format_time(line.at, tz), who]
    parts.append(f"*{escape(line.action.replace('_', ' '))}*{_states(line)}")
    if with_site:
        parts.append(literal(line.site_name))
    if line.reason:
        parts.append(f"“{clip(literal(line.reason), DETAIL_MAX)}”")
    if line.detail:
        parts.append(clip(literal(line.detail), DETAIL_MAX))
    return " · ".join(parts)


def audit_listing(
    app: AppRef, site: SiteRef | None, page: Page[AuditLine], tz: ZoneInfo
) -> Message:
    """The latest audit entries of an application, or of one of its installations."""
    title = literal(app.name) if site is None else f"{literal(app.name)} at {literal(site.name)}"
    head: list[Block] = [header(f"Audit: {title}")]
    if not page.items and not page.has_previous:
        head.append(section("No audit entries yet."))
    rows = [[context(audit_line(line, tz, with_site=site is None))] for line in page.items]
    arg = app.id if site is None else f"{app.id} {site.id}"
    blocks = assemble(head, rows, paging=("audit", arg, page))
    return message(f"Audit log of {title}", blocks)
