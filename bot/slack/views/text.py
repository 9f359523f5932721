"""Text for mrkdwn: escaping, trimming, people, times and states.

One rule for what people typed (names, URNs, reasons, an upstream's error): `literal()`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from store.models import State

ELLIPSIS = "…"
_SLACK_USER = re.compile(r"[UW][A-Z0-9]+")
_WINDOW_ACTOR = re.compile(r"maintenance window by <@([UW][A-Z0-9]+)>")
# What clipping may cut in half: an entity from escape() or a <…> token we wrote.
_PARTIAL_TOKEN = re.compile(r"(&[a-z]{0,3}|<[^>]*)$")

# Actors that are not Slack users (see store.lifecycle).
_ACTOR_NAMES = {"sims-id": "SIMS ID", "system": "the bot", "import": "an import"}

_STATE_LABELS = {
    State.PENDING: ":hourglass_flowing_sand: Pending approval",
    State.ENABLED: ":white_check_mark: Enabled",
    State.DISABLED: ":no_entry: Disabled",
    State.REMOVED: ":wastebasket: Removed",
}
_STATE_WORDS = {
    State.PENDING: "pending approval",
    State.ENABLED: "enabled",
    State.DISABLED: "disabled",
    State.REMOVED: "removed",
}
# How the latest change to a state reads: "Enabled by <@U1> at …".
_STATE_VERBS = {
    State.PENDING: "Installed",
    State.ENABLED: "Enabled",
    State.DISABLED: "Disabled",
    State.REMOVED: "Removed",
}


# Lines, C0/C1 controls and bidirectional overrides: in a name they draw fake lines,
# or turn the rest of a line around ("Enabled" reading as "delbanE").
_CONTROLS = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_FOLDED = re.compile(f"[{_CONTROLS}]+")
# mrkdwn has no escape for its formatting characters, and `verbatim` leaves them (and
# emoji) alone: in typed text each is shown as a lookalike that Slack reads as nothing.
# A colon only where it could open an emoji (":skull:"), so "Billing: unpaid" keeps it.
_LOOKALIKE = {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb", ":": "\u2236"}
_TO_LOOKALIKE = str.maketrans({k: v for k, v in _LOOKALIKE.items() if k != ":"})
_FROM_LOOKALIKE = str.maketrans({v: k for k, v in _LOOKALIKE.items()})
_EMOJI_OPENER = re.compile(r":(?=[\w+'-])")
# Most names hold none of these: they skip the work (a listing shows a hundred names).
_ANYTHING_TO_DO = re.compile(f"[{_CONTROLS}*_~`:]")


def literal(text: str) -> str:
    """Text someone typed, for any text object (mrkdwn or plain_text): one line, escaped,
    and shown as typed, never as formatting, a link, a ping or an emoji."""
    if _ANYTHING_TO_DO.search(text) is None:
        return escape(text)
    shown = _EMOJI_OPENER.sub(_LOOKALIKE[":"], _FOLDED.sub(" ", text))
    return escape(shown.translate(_TO_LOOKALIKE))


def as_typed(text: str) -> str:
    """Text copied from what literal() showed, with the lookalikes typed back."""
    return text.translate(_FROM_LOOKALIKE)


def escape(text: str) -> str:
    """Escape the three characters mrkdwn treats as control characters, and nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """The inverse of escape(), for plain_text objects: Slack shows plain text exactly as
    sent (it decodes entities only in mrkdwn), so "Tom &amp; Jerry" would read so."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in an ellipsis when cut."""
    if len(text) <= limit:
        return text
    # A half entity or half mention would show as garbage or, worse, as a live token.
    cut = _PARTIAL_TOKEN.sub("", text[: limit - len(ELLIPSIS)])
    return cut + ELLIPSIS


def code(text: str) -> str:
    """User or SIMS ID text as a code span, on one line; a backtick inside would end the
    span early."""
    return "`" + escape(_FOLDED.sub(" ", text).replace("`", "'")) + "`" if text else "` `"


def mention(actor: str) -> str:
    """`<@U…>` for a Slack user; a readable name, shown as typed, for anyone else."""
    if _SLACK_USER.fullmatch(actor):
        return f"<@{actor}>"
    window = _WINDOW_ACTOR.fullmatch(actor)
    if window:
        return f"a maintenance window by <@{window[1]}>"
    return literal(_ACTOR_NAMES.get(actor, actor))


def format_time(moment: datetime, tz: ZoneInfo) -> str:
    """Like "27 Nov 2026 09:00 GMT"; a naive time is taken as UTC, as the store keeps it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(tz)
    return f"{local.day} {local:%b %Y %H:%M %Z}"


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def format_wait(seconds: float) -> str:
    """A duration to two units at most: "3 days 4 hours", "2 hours", "45 minutes"."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        parts = [_count(days, "day")] + ([_count(hours, "hour")] if hours else [])
    elif hours:
        parts = [_count(hours, "hour")] + ([_count(minutes, "minute")] if minutes else [])
    elif minutes:
        parts = [_count(minutes, "minute")]
    else:
        parts = ["less than a minute"]
    return " ".join(parts)


def state_label(state: State) -> str:
    return _STATE_LABELS[State(state)]


def state_word(state: State) -> str:
    """The state in a sentence: "while the installation is pending approval"."""
    return _STATE_WORDS[State(state)]


def state_verb(state: State) -> str:
    return _STATE_VERBS[State(state)]


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    return f"{n:,} {noun if n == 1 else (nouns or noun + 's')}"
