"""The App Home tab: a dashboard for admins, and for anyone else what the bot is.

Plain dicts from views/blocks.py, the form views.publish takes; at most 100 blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.slack.ids import BlockId
from bot.slack.views.blocks import VIEW_BLOCKS_MAX, Block, divider, header, home
from bot.slack.views.blocks import context as context_block
from bot.slack.views.blocks import section as mrkdwn_section
from bot.slack.views.common import installation_buttons, site_line
from bot.slack.views.decide import list_buttons
from bot.slack.views.install import until_line
from bot.slack.views.modals import removal_requested_line
from bot.slack.views.text import clip, code, escape, format_time, format_wait, literal, mention
from store.queries import AppSummary, AuditLine, InstallationInfo

HOME_ROWS = 10  # the ten waiting longest, the latest ten decisions
APPS_SHOWN = 30
LIST_APPS = 5  # "from a list" buttons; other applications: /simsid approve APP
LINES_PER_SECTION = 10


def _installation(info: InstallationInfo, text: str) -> list[Block]:
    actions = installation_buttons(info)
    row = [mrkdwn_section(text)]
    return [*row, actions] if actions is not None else row


def _app_lines(apps: Sequence[AppSummary]) -> list[Block]:
    lines = [
        f"*{literal(s.app.name)}* · :hourglass_flowing_sand: {s.pending:,} pending · "
        f":white_check_mark: {s.enabled:,} enabled · :no_entry: {s.disabled:,} disabled"
        for s in apps
    ]
    return [
        mrkdwn_section("\n".join(lines[start : start + LINES_PER_SECTION]))
        for start in range(0, len(lines), LINES_PER_SECTION)
    ]


def decision_line(line: AuditLine, tz: ZoneInfo) -> str:
    """ "27 Nov 09:00 · <@U1> · *disable* enabled → disabled · App at Site · reason"."""
    states = f" {escape(line.from_state or '…')} → {escape(line.to_state)}" if line.to_state else ""
    parts = [
        format_time(line.at, tz),
        mention(line.actor),
        f"*{escape(line.action.replace('_', ' '))}*{states}",
        f"{literal(line.app_name)} at {literal(line.site_name)}",
    ]
    if line.reason:
        parts.append(f"“{clip(literal(line.reason), 300)}”")
    return " · ".join(parts)


def admin_home(
    *,
    apps: Sequence[AppSummary],
    more_apps: bool,
    waiting: Sequence[InstallationInfo],
    more_waiting: bool = False,
    requests: Sequence[InstallationInfo],
    decisions: Sequence[AuditLine],
    tz: ZoneInfo,
    now: datetime,
    notice: str | None = None,
    trouble: str | None = None,
    maintenance: Sequence[InstallationInfo] = (),
) -> dict[str, Any]:
    """The admin dashboard: counts per application, the installations waiting longest and
    removals waiting for a second admin (with their buttons), and the latest decisions;
    `trouble` (Slack refusing the default channel) first of all."""
    blocks: list[Block] = [header("SIMS ID approvals")]
    if trouble:
        blocks.append(mrkdwn_section(trouble))
    if notice:
        blocks.append(mrkdwn_section(notice, block_id=BlockId.HOME_NOTICE))
    blocks.append(context_block(f"Updated {format_time(now, tz)}. Only you see this tab."))

    blocks += [divider(), header("My Applications")]
    from_list: Block | None = None
    list_at = 0
    if apps:
        blocks += _app_lines(apps[:APPS_SHOWN])
        from_list = list_buttons(
            BlockId.DECIDE_APPS, [(s.app.id, s.app.name) for s in apps[:LIST_APPS]]
        )
        list_at = len(blocks)
        if more_apps or len(apps) > APPS_SHOWN:
            blocks.append(context_block("More in `/simsid apps`."))
    else:
        blocks.append(mrkdwn_section("No applications yet: they appear with their first install."))

    requests = requests[:HOME_ROWS]
    if requests:
        blocks += [divider(), header("Removals waiting for a second admin")]
        for info in requests:
            text = f"{site_line(info.site)} · *{literal(info.app.name)}*"
            if info.removal is not None:
                text += "\n" + removal_requested_line(
                    info.removal.requested_by, info.removal.reason
                )
            blocks += _installation(info, text)

    # An installation asked for removal is shown once, with its request: its buttons
    # twice would be one block_id twice, and Slack refuses such a view.
    asked = {info.id for info in requests}
    in_window = [i for i in maintenance[:HOME_ROWS] if i.id not in asked and i.disabled_until]
    if in_window:
        blocks += [divider(), header("In maintenance")]
    for info in in_window:
        assert info.disabled_until is not None
        blocks += _installation(
            info,
            f"{site_line(info.site)} · *{literal(info.app.name)}*\n"
            + until_line(info.disabled_until, tz),
        )
    waiting = [info for info in waiting if info.id not in asked]
    blocks += [divider(), header("Waiting longest")]
    if not waiting:
        blocks.append(mrkdwn_section(":tada: Nothing is waiting for approval."))
    for info in waiting[:HOME_ROWS]:
        waited = format_wait((now - info.created_at).total_seconds())
        blocks += _installation(
            info,
            f"{site_line(info.site)} · *{literal(info.app.name)}*\n"
            f":hourglass_flowing_sand: Waiting {waited}",
        )
    if more_waiting or len(waiting) > HOME_ROWS:
        blocks.append(context_block("More in `/simsid pending`."))

    blocks += [divider(), header("Latest decisions")]
    if not decisions:
        blocks.append(mrkdwn_section("No decisions yet."))
    blocks += [context_block(decision_line(line, tz)) for line in decisions[:HOME_ROWS]]
    if from_list is not None and len(blocks) < VIEW_BLOCKS_MAX:  # a full tab goes without
        blocks.insert(list_at, from_list)
    assert len(blocks) <= VIEW_BLOCKS_MAX, f"{len(blocks)} blocks"
    return home(blocks)


def visitor_home(
    users: Sequence[str], groups: Sequence[str], notice: str | None = None
) -> dict[str, Any]:
    """For anyone who is not an admin: what the bot is, and whom to ask."""
    who = [mention(u) for u in users] + [f"<!subteam^{g}>" for g in groups]
    ask = ", ".join(who) if who else "whoever runs this bot"
    blocks = [header("SIMS ID approvals")]
    if notice:
        blocks.append(mrkdwn_section(notice, block_id=BlockId.HOME_NOTICE))
    blocks += [
        mrkdwn_section(
            "When a school installs one of our applications from the SIMS ID tile store, "
            "its install waits here for approval. SIMS ID admins approve it, disable it "
            "(maintenance, billing) or remove it, and look up customers and their keys "
            f"with {code('/simsid')}."
        ),
        mrkdwn_section(
            f"Only SIMS ID admins can act or see listings. To become one, or to ask about "
            f"a school's installation, ask {ask}."
        ),
    ]
    return home(blocks)
