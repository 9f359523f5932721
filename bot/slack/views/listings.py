"""The /simsid listings: applications, customers and what waits for approval."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.slack.ids import ActionId, BlockId, encode_site
from bot.slack.views.blocks import Block, actions, button, context, header, section
from bot.slack.views.common import Message, assemble, installation_buttons, message, site_line
from bot.slack.views.decide import list_buttons
from bot.slack.views.install import changed_line
from bot.slack.views.text import code, format_time, format_wait, literal, plural, state_label
from store.models import State
from store.queries import (
    AppRef,
    AppSummary,
    CustomerApp,
    CustomerSummary,
    InstallationInfo,
    Page,
    SiteRef,
)


def installation_row(info: InstallationInfo, text: str) -> list[Block]:
    """One installation in a listing: its text, then its own actions block."""
    actions = installation_buttons(info)
    return [section(text), actions] if actions is not None else [section(text)]


def _status(info: InstallationInfo, tz: ZoneInfo) -> str:
    if info.changed_by is None:
        return state_label(info.state)
    return f"{state_label(info.state)} · {changed_line(info, tz)}"


def apps_listing(page: Page[AppSummary]) -> Message:
    """My Applications: each application with its pending, enabled and disabled counts."""
    head: list[Block] = [header("My Applications")]
    if not page.items and not page.has_previous:
        head.append(
            section("No applications yet: they appear with their first install from SIMS ID.")
        )
    rows = [
        [
            section(
                f"*{literal(s.app.name)}* {code(s.app.slug)}\n"
                f":hourglass_flowing_sand: {s.pending:,} pending · "
                f":white_check_mark: {s.enabled:,} enabled · :no_entry: {s.disabled:,} disabled"
            )
        ]
        for s in page.items
    ]
    tail = [context("`/simsid app <app>` shows one application's customers.")] if rows else []
    blocks = assemble(head, rows, tail, paging=("apps", "", page))
    return message(f"My Applications: {plural(len(page.items), 'application')}", blocks)


def app_listing(app: AppRef, page: Page[InstallationInfo], tz: ZoneInfo) -> Message:
    """One application's customers, each with its state and buttons."""
    name = literal(app.name)
    head: list[Block] = [header(f"{name}: customers")]
    if not page.items and not page.has_previous:
        head.append(section(f"No school has *{name}* installed."))
    rows = [installation_row(i, f"{site_line(i.site)}\n{_status(i, tz)}") for i in page.items]
    from_list = list_buttons(BlockId.DECIDE_APPS, [(app.id, "")])
    if from_list is not None:
        head.append(from_list)
    blocks = assemble(head, rows, paging=("app", app.id, page))
    return message(f"Customers of {name}", blocks)


def customers_listing(page: Page[CustomerSummary], search: str | None) -> Message:
    """My Customers: each site with the applications it has and their states."""
    head: list[Block] = [header("My Customers")]
    if search:
        head.append(context(f"Matching {code(search)}"))
    if not page.items and not page.has_previous:
        found = f"No customer matches {code(search)}." if search else "No customers yet."
        head.append(section(found))
    # A page is 20 customers with the same few applications: each line is made once.
    lines: dict[tuple[str, State], str] = {}

    def line(i: CustomerApp) -> str:
        key = (i.app.name, i.state)
        made = lines.get(key)
        if made is None:
            made = lines[key] = f"• {literal(i.app.name)}: {state_label(i.state)}"
        return made

    rows = [
        [section("\n".join([site_line(c.site)] + [line(i) for i in c.installations]))]
        for c in page.items
    ]
    tail = [context("`/simsid customer <site>` shows one customer's applications.")] if rows else []
    blocks = assemble(head, rows, tail, paging=("customers", search or "", page))
    return message(f"My Customers: {plural(len(page.items), 'customer')}", blocks)


def _disable_all(site: SiteRef) -> Block:
    # No confirm dialog: the button opens a form asking why, which is the confirmation.
    return actions(
        BlockId.CUSTOMER_ACTIONS,
        [button("Disable all", ActionId.DISABLE_ALL, encode_site(site.id), style="danger")],
    )


def customer_listing(
    site: SiteRef, page: Page[InstallationInfo], tz: ZoneInfo, *, any_enabled: bool
) -> Message:
    """One customer's applications with their buttons, a page at a time, and "Disable all"
    while any of them (on this page or another) is enabled."""
    head: list[Block] = [header(literal(site.name or site.id)), section(site_line(site))]
    if not page.items and not page.has_previous:
        head.append(section("This customer has no applications installed."))
    rows = [installation_row(i, f"*{literal(i.app.name)}*\n{_status(i, tz)}") for i in page.items]
    tail = [_disable_all(site)] if any_enabled else []
    blocks = assemble(head, rows, tail, paging=("customer", site.id, page))
    return message(f"{literal(site.name)}: applications", blocks)


def pending_listing(page: Page[InstallationInfo], tz: ZoneInfo, now: datetime) -> Message:
    """Every installation waiting for approval, the longest waiting first, with its buttons."""
    head: list[Block] = [header("Waiting for approval")]
    if not page.items and not page.has_previous:
        blocks = [*head, section(":tada: Nothing is waiting for approval.")]
        return message("Nothing is waiting for approval.", blocks)
    rows = [
        installation_row(
            i,
            f"{site_line(i.site)} · *{literal(i.app.name)}*\n"
            f":hourglass_flowing_sand: Waiting {format_wait((now - i.created_at).total_seconds())}"
            f" (installed {format_time(i.created_at, tz)})",
        )
        for i in page.items
    ]
    blocks = assemble(head, rows, paging=("pending", "", page))
    return message("Installations waiting for approval", blocks)
