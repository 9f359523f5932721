"""Private replies to the person who asked: help, secrets, outcomes and problems."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block

from bot.slack.views.common import Message, context, message, section, site_line, text_sections
from bot.slack.views.text import code, escape, format_time, mention, plural, state_word
from store.lifecycle import Action, Change
from store.models import State
from store.queries import MAX_CANDIDATES, AppRef, InstallationInfo, SiteRef

COMMANDS = (
    ("help", "this help"),
    ("apps", "My Applications: each with its count of pending, enabled and disabled sites"),
    ("app <app>", "one application's customers, with their state and buttons"),
    ("customers [search]", "My Customers: each customer with the applications it has"),
    (
        "customer <site>",
        'one customer\'s applications, with "Disable all" for maintenance or billing',
    ),
    ("pending", "every installation waiting for approval, with Approve buttons"),
    ("secret <app> <site>", "the client key and secret of an enabled installation (audited)"),
    ("audit <app> [<site>]", "the latest audit entries: who did what, and when"),
)
_DONE = {
    Action.APPROVE: "Approved",
    Action.ENABLE: "Enabled",
    Action.DISABLE: "Disabled",
    Action.REMOVE: "Removed",
}


def _reply(text: str) -> Message:
    return message(text, [section(text)])


def help_message(problem: str | None = None) -> Message:
    """What /simsid can do; `problem` (what went wrong with the last command) first."""
    lines = [f"`/simsid {escape(usage)}`: {what}" for usage, what in COMMANDS]
    blocks: list[Block] = [section(f":warning: {escape(problem)}")] if problem else []
    blocks += [section("*What `/simsid` can do*"), *text_sections(lines)]
    blocks.append(
        context(
            "`&lt;app&gt;` is an application's id, slug or name; `&lt;site&gt;` a site's id, "
            "URN, DfE number or name. Only you see these replies."
        )
    )
    return message(escape(problem) if problem else "What /simsid can do", blocks)


def secret_reply(info: InstallationInfo, client_key: str, client_secret: str) -> Message:
    """The client key and secret in code spans, easy to copy whole; never in the fallback."""
    title = f"*{escape(info.app.name)}* for {site_line(info.site)}"
    blocks = [
        section(f":key: Client key and secret of {title}"),
        section(f"Client key: {code(client_key)}\nClient secret: {code(client_secret)}"),
        context(
            ":lock: Only visible to you, and gone when you reload. "
            "This view was recorded in the audit log."
        ),
    ]
    fallback = f"Client key and secret of {escape(info.app.name)} for {escape(info.site.name)}"
    return message(fallback, blocks)


def candidates(
    kind: str, query: str, apps_or_sites: Sequence[AppRef] | Sequence[SiteRef]
) -> Message:
    """Several matches for `query`: list them and ask the user to repeat the command with an id."""
    items: list[AppRef | SiteRef] = list(apps_or_sites)
    lines = [
        f"• {code(item.id)} {site_line(item)}"
        if isinstance(item, SiteRef)
        else f"• {code(item.id)} {escape(item.name)}"
        for item in items[:MAX_CANDIDATES]
    ]
    if len(apps_or_sites) > MAX_CANDIDATES:
        lines.append("• … and more: try a longer name, a URN or a DfE number.")
    ask = f"Several {kind}s match {code(query)}: which one?"
    blocks: list[Block] = [section(ask), *text_sections(lines)]
    blocks.append(context("Repeat the command with the id."))
    return message(ask, blocks)


def not_found(kind: str, query: str) -> Message:
    listing = "apps" if kind.startswith("app") else "customers"
    return _reply(f"No {kind} matches {code(query)}. `/simsid {listing}` lists them.")


def not_allowed() -> Message:
    return _reply("Only SIMS ID admins can do that; ask an admin to add you to SIMSID_ADMINS.")


_REFUSALS = {
    "own_request": "You asked for this removal: another admin must confirm it. Nothing changed.",
    "no_request": "There is no removal request to act on any more; nothing changed.",
    "reason_required": "Removing an installation needs a reason; nothing changed.",
}


def _too_late(state: State, changed_by: str | None, changed_at: datetime, tz: ZoneInfo) -> str:
    who = f" by {mention(changed_by)}" if changed_by else ""
    return f"Already {state_word(state)}{who} at {format_time(changed_at, tz)}; nothing changed."


def refusal(change: Change, tz: ZoneInfo) -> Message:
    """Why an action changed nothing: someone got there first, or it makes no sense now."""
    state = state_word(change.state)
    if change.refusal in _REFUSALS:
        return _reply(_REFUSALS[change.refusal])
    if change.refusal == "requested" and change.removal_requested_by:
        return _reply(
            f"{mention(change.removal_requested_by)} has already asked to remove it: another "
            "admin must confirm. Nothing changed."
        )
    if change.refusal == "stale":
        if change.removal_requested_by:
            return _reply(
                f"{mention(change.removal_requested_by)} has asked to remove it meanwhile; "
                "nothing changed."
            )
        return _reply(_too_late(change.state, change.changed_by, change.changed_at, tz))
    if change.refusal == "illegal":
        action = Action(change.action).value.capitalize()
        return _reply(f"{action} is not possible while the installation is {state}.")
    return _reply(f"Nothing changed: the installation is {state}.")


def refusal_for(info: InstallationInfo, action: Action, *, stale: bool, tz: ZoneInfo) -> Message:
    """Why a click is answered before any form opens: the button is out of date, or the
    action is no longer valid in the installation's state."""
    if stale and info.removal is not None:
        return _reply(
            f"{mention(info.removal.requested_by)} has asked to remove it meanwhile; "
            "nothing changed."
        )
    if stale:
        return _reply(_too_late(info.state, info.changed_by, info.changed_at, tz))
    name = action.value.capitalize()
    return _reply(f"{name} is not possible while the installation is {state_word(info.state)}.")


def change_done(change: Change, info: InstallationInfo) -> Message:
    """A short private confirmation of an applied change."""
    app, site = escape(info.app.name), escape(info.site.name)
    if change.step == "requested":
        return _reply(
            f":hourglass: Asked to remove *{app}* for *{site}*: another admin must confirm."
        )
    if change.step == "cancelled":
        return _reply(f"Cancelled the request to remove *{app}* for *{site}*.")
    text = f":white_check_mark: {_DONE[Action(change.action)]} *{app}* for *{site}*."
    if change.state is State.ENABLED:
        secret = f"/simsid secret {info.app.id} {info.site.id}"
        text += f" Its client key and secret: {code(secret)}"
        if info.app.sims_primary:
            text += "\nContact partner support to enable the SIMS Primary integration."
    return _reply(text)


def disabled_all(site: SiteRef, changed: int, skipped: int) -> Message:
    """The outcome of "Disable all"; `skipped` are those someone else changed meanwhile."""
    name = escape(site.name)
    if not changed and not skipped:
        return _reply(f"Nothing was enabled for *{name}*; nothing changed.")
    text = f":no_entry: Disabled {plural(changed, 'application')} for *{name}*."
    if skipped:
        left = "was" if skipped == 1 else "were"
        text += f" {plural(skipped, 'application')} changed meanwhile and {left} left as is."
    return _reply(text)


def not_enabled(info: InstallationInfo) -> Message:
    """A secret was asked for an installation that is not enabled."""
    app, site = escape(info.app.name), escape(info.site.name)
    text = (
        f"The client key and secret of *{app}* for *{site}* are only shown while it is "
        f"enabled; it is {state_word(info.state)}."
    )
    return _reply(text + (" Approve it first." if info.state is State.PENDING else ""))


def database_unavailable() -> Message:
    return _reply(
        "The database is not answering right now; nothing was changed. Try again in a minute."
    )


def unexpected_error(error_id: str) -> Message:
    return _reply(
        f"Something went wrong (error id {code(error_id)}); nothing secret was logged. "
        "Quote the id to whoever runs the bot."
    )


def working_on_it() -> Message:
    return _reply("Working on it…")
