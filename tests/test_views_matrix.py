"""Every surface, rendered with hostile and maximal data, is a payload Slack accepts.

A matrix: each kind of name (1 character, 250, the 500 SIMS ID may send, emoji, mrkdwn's
specials, newlines, right-to-left text) through every message, ephemeral, modal and Home tab
the bot renders, and the largest shapes (a school with 40 applications, 120 applications,
the longest reason, 1,000 audit rows), each page of each listing checked by
bot/sandbox/blockkit.py (Block Kit's schema and Slack's other rules) and slack_sdk's models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from bot.reconcile.notice import Notice
from bot.slack import views
from bot.slack.ids import ReasonAsk
from bot.slack.views.modals import REASON_MAX
from bot.slack.views.text import escape
from store.lifecycle import Action, ActionResult
from store.models import State
from store.queries import (
    AppRef,
    AppSummary,
    AuditLine,
    CustomerApp,
    CustomerSummary,
    InstallationInfo,
    Page,
    PendingCount,
    RemovalRequest,
    SiteRef,
    UpstreamStatus,
)
from tests.blockkit import check_message, check_view

T = TypeVar("T")
TZ = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
PAGE = 20  # what the store's listings return at a time

NAMES = {
    "one-char": "A",
    "250-chars": ("Oakfield Primary & Nursery <Academy> " * 8)[:250],
    "500-chars": "W" * 500,  # the longest name SIMS ID's events may carry
    "emoji": "🏫 Oakfield 👩🏽‍🏫 Primary 🇬🇧 ✨" * 3,
    "mrkdwn": "*bold* _it_ ~s~ `code` <!channel> <@U123> <#C1> &amp; <http://x|y> > quote",
    "newlines": "Oak\nfield\r\n\nPrimary\n\n\n",
    "rtl": "مدرسة الأمل الابتدائية \u202eloohcs\u202c עברית",
    "whitespace-mix": " \t Oak  field \u00a0\u2003 ",
}
IDS = {
    "one-char": "a",
    "250-chars": "i" * 200,  # ids are at most 200 characters
    "500-chars": "<&>" * 66,
    "emoji": "site-🏫",
    "mrkdwn": "<!here>",
    "newlines": "id\nwith\nlines",
    "rtl": "מזהה",
    "whitespace-mix": "id with spaces",
}
LABEL_MAX = 100  # a URN or DfE number


def app_ref(name: str, ident: str, n: int = 0, *, primary: bool = False) -> AppRef:
    return AppRef(f"{ident}{n or ''}", name, f"{ident[:40]}-{n}", None, False, primary)


def site_ref(name: str, ident: str, n: int = 0) -> SiteRef:
    return SiteRef(f"{ident}{n or ''}", name, name[:LABEL_MAX], name[:LABEL_MAX])


def info(
    name: str,
    ident: str,
    n: int = 0,
    *,
    state: State = State.PENDING,
    app: AppRef | None = None,
    site: SiteRef | None = None,
    upstream: UpstreamStatus | None = None,
    removal: bool = False,
    reason: str | None = None,
) -> InstallationInfo:
    """Installation `n`, every text in it `name` (the actor and the reasons too)."""
    return InstallationInfo(
        id=10**15 + n,
        app=app or app_ref(name, ident, n),
        site=site or site_ref(name, ident, n),
        state=state,
        version=10**9,
        created_at=NOW - timedelta(days=400, seconds=n),
        changed_at=NOW - timedelta(hours=1),
        changed_by=name,
        message_channel="C1",
        message_ts="1.2",
        upstream=upstream,
        change_reason=reason if reason is not None else name,
        removal=RemovalRequest("U0BOB", NOW, reason or name) if removal else None,
    )


Cursor = Callable[[int], tuple[str | int, str | int]]


def pages(items: Sequence[T], cursor: Cursor) -> Iterator[Page[T]]:
    """Every page of a listing of `items`, as the store hands them out."""
    for start in range(0, max(len(items), 1), PAGE):
        chunk = tuple(items[start : start + PAGE])
        keys = tuple(cursor(start + i) for i in range(len(chunk)))
        yield Page(chunk, PAGE, start + PAGE < len(items), start > 0, keys)


def audit_line(name: str, n: int, reason: str | None = None) -> AuditLine:
    return AuditLine(
        id=n,
        at=NOW - timedelta(minutes=n),
        actor=name if n % 2 else "U0ALICE",
        action=("remove_requested", "approve", "disable", "reconcile")[n % 4],
        from_state="enabled" if n % 3 else None,
        to_state="disabled" if n % 5 else None,
        detail=name if n % 2 else None,
        app_name=name,
        site_name=name,
        reason=reason if reason is not None else name,
    )


def change(action: Action, refusal: str | None, name: str, state: State) -> ActionResult:
    return ActionResult(
        installation_id=1,
        action=action,
        applied=refusal is None,
        state=state,
        previous=State.PENDING,
        changed_by=name,
        changed_at=NOW,
        version=8,
        refusal=refusal,
        removal_requested_by="U0BOB" if refusal == "requested" else None,
    )


UPSTREAMS = [
    None,
    UpstreamStatus("applied", "installation.enabled", 1, None, 7),
    UpstreamStatus("waiting", "installation.enabled", 0, None, 7),
    UpstreamStatus("waiting", "installation.enabled", 10**6, "x" * 5000, 7),
    UpstreamStatus("failed", "installation.enabled", 3, None, 7),
]


def messages(name: str, ident: str) -> Iterator[tuple[str, views.Message]]:
    """Every message and ephemeral the bot renders, with `name` in every text."""
    reason = (name * REASON_MAX)[:REASON_MAX]  # the longest reason the form allows
    app, site = app_ref(name, ident), site_ref(name, ident)
    for state in State:
        for k, upstream in enumerate(UPSTREAMS):
            for removal in (False, True):
                one = info(name, ident, state=state, upstream=upstream, removal=removal)
                yield (
                    f"install {state.value} upstream{k} removal={removal}",
                    views.install_message(one, TZ),
                )
        primary = info(name, ident, state=state, app=app_ref(name, ident, primary=True))
        yield f"install {state.value} SIMS Primary", views.install_message(primary, TZ)
        yield (
            f"install {state.value} longest reason",
            views.install_message(info(name, ident, state=state, reason=reason, removal=True), TZ),
        )
        yield f"reminder {state.value}", views.reminder(info(name, ident, state=state), 10**8)
        yield f"not_enabled {state.value}", views.not_enabled(info(name, ident, state=state))
        for action in Action:
            done = info(name, ident, state=state)
            for refusal in (None, "stale", "illegal", "noop", "own_request", "requested"):
                yield (
                    f"refusal {action.value} {refusal}",
                    views.refusal(change(action, refusal, name, state), TZ),
                )
            yield f"refusal_for {action.value}", views.refusal_for(done, action, stale=True, tz=TZ)
            yield (
                f"refusal_for {action.value} fresh",
                views.refusal_for(done, action, stale=False, tz=TZ),
            )
            if action in (Action.APPROVE, Action.ENABLE, Action.DISABLE, Action.REMOVE):
                yield (
                    f"change_done {action.value}",
                    views.change_done(change(action, None, name, state), done),
                )

    # 120 applications: My Applications page by page, the digest and a burst summary.
    apps = [app_ref(name, ident, n) for n in range(120)]
    summaries = [AppSummary(a, 10**9, 10**9, 10**9) for a in apps]
    for i, page in enumerate(pages(summaries, lambda n: (name[:500], ident))):
        yield f"apps page {i}", views.apps_listing(page)
    counts = [PendingCount(a, 10**6, NOW - timedelta(days=n)) for n, a in enumerate(apps)]
    waiting = [info(name, ident, n) for n in range(120)]
    for buttons in (0, 5, 60):
        yield (
            f"digest buttons={buttons}",
            views.digest(counts, waiting, TZ, NOW, max_buttons=buttons),
        )
    yield "digest nothing", views.digest([], [], TZ, NOW)
    yield "burst 1 app", views.burst_summary([(name, 10**6)])
    yield "burst 120 apps", views.burst_summary([(a.name, n) for n, a in enumerate(apps)])

    # One application's customers, and what waits, page by page (120 installations).
    installs = [
        info(name, ident, n, state=list(State)[n % 4], app=app, upstream=UPSTREAMS[n % 5])
        for n in range(120)
    ]
    for i, page in enumerate(pages(installs, lambda n: (name[:500], n))):
        yield f"app page {i}", views.app_listing(app, page, TZ)
    for i, page in enumerate(pages(waiting, lambda n: (NOW.isoformat(), n))):
        yield f"pending page {i}", views.pending_listing(page, TZ, NOW)
    yield "pending nothing", views.pending_listing(Page((), PAGE, False, False), TZ, NOW)

    # A school with 40 applications: its own listing, and My Customers.
    forty = [
        info(name, ident, n, state=list(State)[n % 4], site=site, removal=n % 7 == 0)
        for n in range(40)
    ]
    for i, page in enumerate(pages(forty, lambda n: (name[:500], n))):
        for any_enabled in (False, True):
            yield (
                f"customer page {i} any_enabled={any_enabled}",
                views.customer_listing(site, page, TZ, any_enabled=any_enabled),
            )
    customers = [
        CustomerSummary(site_ref(name, ident, n), tuple(CustomerApp(i.app, i.state) for i in forty))
        for n in range(45)
    ]
    for search in (None, name):
        for i, page in enumerate(pages(customers, lambda n: (name[:500], ident))):
            yield (
                f"customers page {i} search={search is not None}",
                views.customers_listing(page, search),
            )

    # 1,000 audit rows, page by page, of an application and of one installation.
    lines = [audit_line(name, n, reason if n % 10 == 0 else None) for n in range(1000)]
    for i, page in enumerate(pages(lines, lambda n: (NOW.isoformat(), n))):
        yield f"audit page {i}", views.audit_listing(app, None, page, TZ)
        yield f"audit site page {i}", views.audit_listing(app, site, page, TZ)

    key, secret = "ck_" + "k" * 60, "cs_" + "s" * 80
    for origin in ("bot", "sims-id"):
        yield f"secret {origin}", views.secret_reply(info(name, ident), key, secret, origin)
    yield "disabled_all", views.disabled_all(site, 40, 3)
    yield "disabled_all none", views.disabled_all(site, 0, 0)
    yield "help", views.help_message(name)
    sites = [site_ref(name, ident, n) for n in range(40)]
    yield "candidates sites", views.candidates("site", name, sites)
    yield "candidates apps", views.candidates("application", name, apps)
    yield "not_found", views.not_found("site", name)
    for fixed in ("not_allowed", "database_unavailable", "working_on_it"):
        yield fixed, getattr(views, fixed)()
    yield "unexpected_error", views.unexpected_error(name)

    examples = [
        {"kind": kind, "application": name, "site": name, "site_id": ident}
        for kind in ("missing", "extra", "removed", "enabled", name)
        for _ in range(3)
    ]
    yield (
        "reconciled",
        views.reconcile_notice(
            Notice.from_payload(
                {
                    "notice": "reconciled",
                    "source": name,
                    "changed": {"removed": 10**6, "enabled": 3, name: 1},
                    "total": 10**6,
                    "skipped": 12,
                    "examples": examples,
                }
            )
        ),
    )
    yield (
        "reconcile refused",
        views.reconcile_notice(
            Notice.from_payload(
                {
                    "notice": "reconcile_refused",
                    "source": name,
                    "reason": name * 20,
                    "total": 10**6,
                    "examples": examples,
                }
            )
        ),
    )


def modals(name: str, ident: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every modal the bot opens or answers a form with, with `name` in every text."""
    one, site = info(name, ident, removal=True), site_ref(name, ident)
    url = "https://hooks.slack.com/actions/T0/1/" + "x" * 60
    for kind in ("disable", "remove", "disable_all"):
        ask = ReasonAsk(kind, 10**15, 10**9, ident, url, True)
        yield f"disable {kind}", views.disable_modal(one, ask)
        yield f"remove {kind}", views.remove_modal(one, ask, two_person=False)
        yield f"ask to remove {kind}", views.remove_modal(one, ask, two_person=True)
        yield f"disable all {kind}", views.disable_all_modal(site, ask)
    yield "outcome", views.outcome_modal(name, escape(name))


def homes(name: str, ident: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Both Home tabs: the admin's, full and empty, and anyone else's."""
    apps = [AppSummary(app_ref(name, ident, n), 10**9, 0, 5) for n in range(120)]
    waiting = [info(name, ident, n) for n in range(30)]
    requests = [info(name, ident, 100 + n, state=State.ENABLED, removal=True) for n in range(30)]
    decisions = [audit_line(name, n) for n in range(30)]
    notice = escape(name)
    for admin_notice in (None, notice):
        yield (
            f"admin full notice={admin_notice is not None}",
            views.admin_home(
                apps=apps,
                more_apps=True,
                waiting=waiting,
                more_waiting=True,
                requests=requests,
                decisions=decisions,
                tz=TZ,
                now=NOW,
                notice=admin_notice,
            ),
        )
    # A pending installation asked for removal is in both lists.
    both = [info(name, ident, n, removal=True) for n in range(10)]
    yield (
        "admin overlapping",
        views.admin_home(
            apps=apps[:1],
            more_apps=False,
            waiting=both,
            requests=both,
            decisions=[],
            tz=TZ,
            now=NOW,
        ),
    )
    yield (
        "admin empty",
        views.admin_home(
            apps=[], more_apps=False, waiting=[], requests=[], decisions=[], tz=TZ, now=NOW
        ),
    )
    users = ["U0ALICE", "W0BOB", name, ident]
    yield "visitor", views.visitor_home(users * 10, [ident, "S0ADMINS"] * 10, notice)
    yield "visitor alone", views.visitor_home([], [])


@pytest.mark.parametrize("kind", NAMES)
def test_every_message_slack_accepts(kind: str) -> None:
    seen = 0
    for what, message in messages(NAMES[kind], IDS[kind]):
        try:
            check_message(message.to_dict())
        except AssertionError as e:
            raise AssertionError(f"{what} with a {kind} name: {e}") from None
        seen += 1
    assert seen > 300  # every surface above rendered


@pytest.mark.parametrize("kind", NAMES)
def test_every_modal_and_home_tab_slack_accepts(kind: str) -> None:
    for what, view in [*modals(NAMES[kind], IDS[kind]), *homes(NAMES[kind], IDS[kind])]:
        try:
            check_view(view)
        except AssertionError as e:
            raise AssertionError(f"{what} with a {kind} name: {e}") from None
