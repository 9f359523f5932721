"""What the bot says when Slack refuses, for good, a channel or the bot's token."""

from __future__ import annotations

from bot.slack.views.blocks import context, section
from bot.slack.views.common import Message, message
from bot.slack.views.text import escape

_CHANNEL_WHY = {
    "channel_not_found": "does not exist, or is private and the bot is not in it",
    "not_in_channel": "does not have the bot in it",
    "is_archived": "is archived",
    "restricted_action": "does not let the bot post (a posting restriction)",
}


def channel_refused_notice(channel: str, error: str, bot_user: str | None) -> Message:
    """Told once per channel and error in the default channel: what is wrong, how to fix it."""
    why = _CHANNEL_WHY.get(error, "refuses the bot's messages")
    bot = f"<@{bot_user}>" if bot_user else "the bot"
    if error == "is_archived":
        fix = f"unarchive <#{channel}>"
    else:
        fix = f"type `/invite` {bot} in <#{channel}>"
    line = (
        f":warning: Slack refuses install messages for <#{channel}>: it {why} "
        f"(`{escape(error)}`). They are posted here instead, with their buttons."
    )
    how = (
        f"To fix it, {fix}, or point the application elsewhere with "
        "`simsid-bot apps edit APP --channel C…`. Later installs try "
        f"<#{channel}> first, so once the bot is in, they go there again."
    )
    return message(f"Slack refuses install messages for <#{channel}> ({escape(error)})", [
        section(line),
        context(how),
    ])  # fmt: skip


def delivery_trouble(channel: str | None, error: str) -> str:
    """The Home tab's first line while Slack refuses the default channel (`channel`) or, with
    None, the bot's token (mrkdwn)."""
    what = f"the default channel <#{channel}>" if channel else "the bot token"
    return (
        f":rotating_light: *Messages are not reaching Slack*: {what} is refused "
        f"(`{escape(error)}`). Nothing is lost: they are kept and sent when it works again "
        "(`simsid-bot outbox --retry all` tries at once)."
    )
