"""Channel posts from scheduled work: the pending digest, burst summaries and reminders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.slack.views.blocks import Block, context, divider, header, section
from bot.slack.views.common import Message, assemble, installation_buttons, message, site_line
from bot.slack.views.text import clip, format_time, format_wait, literal, plural
from store.lifecycle import Action
from store.queries import InstallationInfo, PendingCount
from store.windows import Ending

APP_LINES = 20  # beyond this the digest becomes a wall; /simsid pending has the rest
NAME_MAX = 80  # 21 lines of a clipped name and a few words stay within one section


def _waited(since: datetime, now: datetime) -> str:
    return format_wait((now - since).total_seconds())


def windows_section(ending: Sequence[Ending], total: int, tz: ZoneInfo) -> list[Block]:
    """The maintenance windows ending in the next 24 hours, soonest first."""
    if not total:
        return []
    lines = [
        f"• {format_time(e.ends_at, tz)}: *{clip(literal(e.app_name), NAME_MAX)}* at "
        f"{clip(literal(e.site_name), NAME_MAX)}"
        for e in ending[:APP_LINES]
    ]
    if total > len(lines):
        lines.append(f"• and {total - len(lines):,} more")
    title = f":wrench: *{plural(total, 'maintenance window')} ending in the next 24 hours*"
    return [divider(), section(title + " (enabled again then)\n" + "\n".join(lines))]


def digest(
    counts: list[PendingCount],
    oldest: list[InstallationInfo],
    tz: ZoneInfo,
    now: datetime,
    max_buttons: int = 5,
    ending: Sequence[Ending] = (),
    ending_total: int = 0,
) -> Message:
    """The pending digest: counts per application, longest waiting first, a few Approve
    buttons; then the maintenance windows ending within 24 hours."""
    total = sum(c.count for c in counts)
    windows = windows_section(ending, ending_total, tz)
    if not total:
        return message(
            "Nothing is waiting for approval.",
            [
                header("Waiting for approval"),
                section(":tada: Nothing is waiting for approval."),
                *windows,
            ],
        )
    by_wait = sorted(counts, key=lambda c: c.oldest)
    lines = [
        f"• *{clip(literal(c.app.name), NAME_MAX)}*: {c.count:,} waiting, "
        f"the oldest for {_waited(c.oldest, now)}"
        for c in by_wait[:APP_LINES]
    ]
    if len(by_wait) > APP_LINES:
        rest = by_wait[APP_LINES:]
        waiting = sum(c.count for c in rest)
        lines.append(f"• and {plural(len(rest), 'more application')} with {waiting:,} waiting")
    head: list[Block] = [
        header("Waiting for approval"),
        section(
            f"*{plural(total, 'installation')}* waiting for approval "
            f"in {plural(len(counts), 'application')}, at {format_time(now, tz)}."
        ),
        section("\n".join(lines)),
    ]
    shown = oldest[: max(0, max_buttons)]
    if shown:
        head += [divider(), section("*Waiting longest*")]
    rows: list[list[Block]] = []
    for info in shown:
        text = (
            f"{site_line(info.site)} · *{literal(info.app.name)}*\n"
            f":hourglass_flowing_sand: Waiting {_waited(info.created_at, now)}"
        )
        approve = installation_buttons(info, [Action.APPROVE])
        rows.append([section(text), approve] if approve is not None else [section(text)])
    more = total - len(shown)
    tail = [context(f"{more:,} more waiting: `/simsid pending`")] if more > 0 else []
    tail += windows
    blocks = assemble(head, rows, tail, more="`/simsid pending`")
    return message(f"{plural(total, 'installation')} waiting for approval", blocks)


def burst_summary(counts: Sequence[tuple[str, int]]) -> Message:
    """One message standing for a burst of installs too many to post one by one: each
    application with its count, so one post (one of Slack's one a second) covers them all."""
    total = sum(count for _, count in counts)
    if len(counts) == 1:
        what = f"of {literal(counts[0][0])}"
    else:
        what = f"of {plural(len(counts), 'application')}"
    text = f"{total:,} more installs {what} are waiting: `/simsid pending`"
    lines = [
        f"• *{clip(literal(name), NAME_MAX)}*: {count:,}" for name, count in counts[:APP_LINES]
    ]
    if len(counts) > APP_LINES:
        rest = counts[APP_LINES:]
        waiting = sum(count for _, count in rest)
        lines.append(f"• and {plural(len(rest), 'more application')} with {waiting:,}")
    return message(text, [section(f":inbox_tray: {text}"), section("\n".join(lines))])


def reminder(info: InstallationInfo, waited_seconds: float) -> Message:
    """A reply in the install message's thread: it is still waiting."""
    text = (
        f"Still waiting for approval after {format_wait(waited_seconds)}: "
        f"{site_line(info.site)} · *{literal(info.app.name)}*"
    )
    return message(text, [section(f":hourglass_flowing_sand: {text}")])
