"""Every view, fed hostile and maximal data, parses through slack_sdk and keeps Slack's limits.

The views build Block Kit as plain dicts (bot/slack/views/blocks.py) with no validation at
run time, so these properties are what stands between odd SIMS ID data and a message
Slack refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack import views
from bot.slack.ids import ReasonAsk
from bot.slack.views import Message
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
from tests.blockkit import check_message, check_view, walk

TZ = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
PROFILE = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_chars = st.characters(exclude_categories=["Cs"])
_hostile = st.sampled_from(["<!channel>", "<@U123>", "&amp;", "<", ">", "&", "`", "*", "\n", "…"])
# Text as SIMS ID might send it: short and odd, or long enough to hit every limit.
text = st.one_of(
    st.text(_chars, max_size=40),
    st.lists(st.one_of(_hostile, st.text(_chars, max_size=3)), max_size=30).map("".join),
    st.tuples(st.sampled_from(["a", "<", "&", "é", "👍🏽", "<@U1>"]), st.integers(1, 6000)).map(
        lambda t: (t[0] * t[1])[: t[1]]
    ),
)
# Ids are at most 200 characters (bot/simsid/schema.py), but any characters.
ident = st.one_of(
    st.text(_chars, min_size=1, max_size=200),
    st.tuples(st.sampled_from(["a", "%", "<", "é", "👍🏽"]), st.integers(1, 200)).map(
        lambda t: (t[0] * t[1])[: t[1]]
    ),
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2026, 11, 27), timezones=st.just(UTC)
)
ids = st.integers(0, 10**15)

apps = st.builds(AppRef, ident, text, text, st.none(), st.booleans(), st.booleans())
sites = st.builds(SiteRef, ident, text, st.none() | text, st.none() | text)
upstreams = st.none() | st.builds(
    UpstreamStatus,
    st.sampled_from(["applied", "waiting", "failed"]),
    text,
    st.integers(0, 10**6),
    st.none() | text,
    ids,
)
infos = st.builds(
    InstallationInfo,
    id=ids,
    app=apps,
    site=sites,
    state=st.sampled_from(State),
    version=ids,
    created_at=moments,
    changed_at=moments,
    changed_by=st.none() | st.sampled_from(["U0ALICE", "sims-id", "system"]) | text,
    message_channel=st.none(),
    message_ts=st.none(),
    upstream=upstreams,
    change_reason=st.none() | text,
    removal=st.none()
    | st.builds(
        RemovalRequest,
        st.sampled_from(["U0BOB", "sims-id"]) | text,
        moments,
        st.none() | text,
    ),
)


def unique(items: st.SearchStrategy[Any], max_size: int = 30) -> st.SearchStrategy[list[Any]]:
    """Rows with distinct ids, as the store returns them (block_ids derive from them)."""
    return st.lists(items, max_size=max_size, unique_by=lambda row: getattr(row, "id", id(row)))


# Where an item stands in its listing: a site name (up to 500 characters), a time or an id.
cursors = st.tuples(
    st.one_of(text.map(lambda s: s[:500]), moments.map(lambda m: m.isoformat()), ids),
    st.one_of(ident, ids),
)


def pages(items: st.SearchStrategy[Any], max_size: int = 30) -> st.SearchStrategy[Page[Any]]:
    return st.builds(
        lambda rows, keys, more, previous: Page(
            tuple(rows), 20, more, previous, tuple(keys[: len(rows)])
        ),
        unique(items, max_size),
        st.lists(cursors, min_size=max_size, max_size=max_size),
        st.booleans(),
        st.booleans(),
    )


audit_lines = st.builds(
    AuditLine, ids, moments, text, text, st.none() | text, st.none() | text, st.none() | text,
    text, text, st.none() | text,
)  # fmt: skip
asks = st.builds(
    ReasonAsk,
    st.sampled_from(["disable", "remove", "disable_all"]),
    st.none() | ids,
    st.none() | ids,
    st.none() | ident,
    st.none() | st.just("https://hooks.slack.com/actions/T0/1/" + "x" * 60),
    st.booleans(),
)
changes = st.builds(
    ActionResult,
    installation_id=ids,
    action=st.sampled_from(Action),
    applied=st.booleans(),
    state=st.sampled_from(State),
    previous=st.sampled_from(State),
    changed_by=st.none() | text,
    changed_at=moments,
    version=ids,
    refusal=st.sampled_from([None, "stale", "illegal", "noop"]),
)


def checked(message: Message) -> list[dict[str, Any]]:
    assert isinstance(message, Message)
    blocks = check_message(message.to_dict())
    # plain_text is sent unescaped and renders no mentions; mrkdwn would.
    assert all("<!" not in o["text"] for o in walk(blocks) if o.get("type") == "mrkdwn")
    return blocks


def only_our_tokens(message: Message) -> None:
    """No `<…>` token in the output that the bot did not write (mentions of actors only)."""
    for obj in walk(message.to_dict()["blocks"]):
        if obj.get("type") == "mrkdwn":
            assert "<!" not in obj["text"]


@PROFILE
@given(infos)
def test_install_message(info: InstallationInfo) -> None:
    checked(views.install_message(info, TZ))


@PROFILE
@given(apps, pages(infos))
def test_app_listing(app: AppRef, page: Page[InstallationInfo]) -> None:
    checked(views.app_listing(app, page, TZ))


@PROFILE
@given(pages(infos))
def test_pending_listing(page: Page[InstallationInfo]) -> None:
    checked(views.pending_listing(page, TZ, NOW))


@PROFILE
@given(pages(st.builds(AppSummary, apps, ids, ids, ids)))
def test_apps_listing(page: Page[AppSummary]) -> None:
    checked(views.apps_listing(page))


def _customer_apps(infos: list[InstallationInfo]) -> tuple[CustomerApp, ...]:
    return tuple(CustomerApp(i.app, i.state) for i in infos)


@PROFILE
@given(pages(st.builds(CustomerSummary, sites, unique(infos, 8).map(_customer_apps)), 26), text)
def test_customers_listing(page: Page[CustomerSummary], search: str) -> None:
    checked(views.customers_listing(page, search or None))


@PROFILE
@given(sites, unique(infos))
def test_customer_listing(site: SiteRef, installations: list[InstallationInfo]) -> None:
    keys = tuple((i.app.name.lower(), i.id) for i in installations)
    page = Page(tuple(installations), len(installations) or 1, True, True, keys)
    checked(views.customer_listing(site, page, TZ, any_enabled=True))


@PROFILE
@given(apps, st.none() | sites, pages(audit_lines))
def test_audit_listing(app: AppRef, site: SiteRef | None, page: Page[AuditLine]) -> None:
    checked(views.audit_listing(app, site, page, TZ))


@PROFILE
@given(
    st.lists(st.builds(PendingCount, apps, st.integers(0, 10**9), moments), max_size=40),
    unique(infos, 8),
    st.integers(-1, 60),
)
def test_digest(counts: list[PendingCount], oldest: list[InstallationInfo], buttons: int) -> None:
    checked(views.digest(counts, oldest, TZ, NOW, max_buttons=buttons))


@PROFILE
@given(infos, text, text, st.floats(0, 10**9), st.integers(0, 10**9), sites, changes)
def test_replies(
    info: InstallationInfo,
    key: str,
    secret: str,
    waited: float,
    n: int,
    site: SiteRef,
    change: ActionResult,
) -> None:
    made: list[Callable[[], Message]] = [
        lambda: views.secret_reply(info, key, secret),
        lambda: views.reminder(info, waited),
        lambda: views.burst_summary([(info.app.name, n)]),
        lambda: views.burst_summary([(info.app.name, n), (key, n // 3)] * (1 + n % 30)),
        lambda: views.not_enabled(info),
        lambda: views.disabled_all(site, n, n // 2),
        lambda: views.help_message(key or None),
        lambda: views.candidates("site", key, [site] * (n % 30)),
        lambda: views.candidates("application", key, [info.app] * (n % 30)),
        lambda: views.not_found("site", key),
        lambda: views.refusal(change, TZ),
    ]
    if change.action in (Action.APPROVE, Action.ENABLE, Action.DISABLE, Action.REMOVE):
        made.append(lambda: views.change_done(change, info))
    for make in made:
        message = make()
        checked(message)
        only_our_tokens(message)


@PROFILE
@given(infos, sites, asks, st.booleans(), text, text)
def test_modals(
    info: InstallationInfo, site: SiteRef, ask: ReasonAsk, two: bool, title: str, said: str
) -> None:
    for view in (
        views.disable_modal(info, ask),
        views.remove_modal(info, ask, two_person=two),
        views.disable_all_modal(site, ask),
        views.outcome_modal(title, escape(said)),
    ):
        check_view(view)
        # plain_text renders no mentions; mrkdwn would.
        assert all("<!" not in o["text"] for o in walk(view) if o.get("type") == "mrkdwn")


@PROFILE
@given(
    st.lists(st.builds(AppSummary, apps, ids, ids, ids), max_size=40),
    st.booleans(),
    unique(infos, 14),
    unique(infos, 14),
    st.lists(audit_lines, max_size=14),
    st.none() | text,
    st.lists(st.sampled_from(["U0ALICE", "W1"]) | text, max_size=30),
    st.lists(text, max_size=30),
)
def test_home_tabs(
    apps_: list[AppSummary],
    more: bool,
    waiting: list[InstallationInfo],
    requests: list[InstallationInfo],
    decisions: list[AuditLine],
    notice: str | None,
    users: list[str],
    groups: list[str],
) -> None:
    taken = {i.id for i in waiting}
    requests = [i for i in requests if i.id not in taken]  # one block_id per installation
    admin = views.admin_home(
        apps=apps_,
        more_apps=more,
        waiting=waiting,
        more_waiting=more,
        requests=requests,
        decisions=decisions,
        tz=TZ,
        now=NOW,
        notice=escape(notice) if notice else None,
    )
    check_view(admin)
    check_view(views.visitor_home(users, groups, escape(notice) if notice else None))


def test_the_largest_pages_fill_but_never_exceed_a_message() -> None:
    long = "<&>" * 2000
    app = AppRef(long, long, long, None, False, True)
    site = SiteRef(long, long, long, long)
    upstream = UpstreamStatus("failed", long, 10**9, long, 10**15)
    many = [
        InstallationInfo(
            10**15 - i, app, site, State.PENDING, 10**15, NOW, NOW, long, None, None, 0, upstream
        )
        for i in range(200)
    ]
    keys = ((long[:500], long[:200]),) * 200
    page = Page(tuple(many), 200, True, True, keys)
    for message in (
        views.app_listing(app, page, TZ),
        views.pending_listing(page, TZ, NOW),
        views.customer_listing(site, page, TZ, any_enabled=False),  # all pending
        views.customers_listing(
            Page(
                (CustomerSummary(site, _customer_apps(many[:30])),) * 60, 60, True, True, keys[:60]
            ),
            long,
        ),
        views.install_message(many[0], TZ),
        views.digest([PendingCount(app, 10**9, NOW - timedelta(days=9999))] * 500, many, TZ, NOW),
    ):
        blocks = checked(message)
        assert len(blocks) <= 50
