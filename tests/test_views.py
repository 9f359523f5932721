"""The view layer: plain dataclasses in, Block Kit dicts within Slack's limits out. No database."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.reconcile.notice import Notice
from bot.slack import views
from bot.slack.ids import (
    BUTTON_FOR,
    INSTALLATION_ACTIONS,
    ActionId,
    PageRef,
    ReasonAsk,
    decode_installation,
    decode_outbox,
    decode_page,
    decode_site,
    encode_installation,
    encode_page,
    encode_site,
)
from bot.slack.views import Message
from bot.slack.views.text import (
    as_typed,
    clip,
    escape,
    format_time,
    format_wait,
    literal,
    mention,
    state_label,
)
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
from tests.blockkit import check_message, walk
from tests.faultkit import without_plain_text

TZ = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
HOSTILE = "<!channel> & <b>"

APP = AppRef("app-homework", "Homework Hub", "homework-hub", None, False, False)
PRIMARY_APP = AppRef("app-primary", "Primary Sync", "primary-sync", None, False, True)
SITE = SiteRef("4f0c2a9e", "Oakfield Primary", "123456", "823/4001")


def make_info(
    state: State = State.PENDING,
    *,
    id: int = 1,
    app: AppRef = APP,
    site: SiteRef = SITE,
    changed_by: str | None = "sims-id",
    upstream: UpstreamStatus | None = None,
    waited: timedelta = timedelta(days=3, hours=4),
) -> InstallationInfo:
    return InstallationInfo(
        id=id,
        app=app,
        site=site,
        state=state,
        version=7,
        created_at=NOW - waited,
        changed_at=NOW - timedelta(hours=1),
        changed_by=changed_by,
        message_channel="C1",
        message_ts="1.2",
        upstream=upstream,
    )


def key(n: int) -> tuple[str, int]:
    """The cursor page_of gives the n-th item."""
    return (f"key {n}", n)


def page_of(
    items: list[Any], *, previous: bool = False, limit: int = 20, more: bool = False
) -> Page[Any]:
    return Page(tuple(items), limit, more, previous, tuple(key(n) for n in range(len(items))))


def change(state: State, action: Action, refusal: str | None = None) -> ActionResult:
    return ActionResult(
        installation_id=1,
        action=action,
        applied=refusal is None,
        state=state,
        previous=State.PENDING,
        changed_by="U0ALICE",
        changed_at=NOW,
        version=8,
        refusal=refusal,
    )


def check(message: Message) -> list[dict[str, Any]]:
    """The message's blocks, after checking they parse through slack_sdk and keep Slack's limits."""
    return check_message(message.to_dict())


def buttons(dicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [obj for obj in walk(dicts) if obj.get("type") == "button"]


def action_ids(message: Message) -> list[str]:
    return [b["action_id"] for b in buttons(check(message))]


def texts(message: Message) -> str:
    return json.dumps(message.to_dict(), ensure_ascii=False)


def dumps(dicts: list[dict[str, Any]]) -> str:
    return json.dumps(dicts, ensure_ascii=False)


def audit_lines(n: int) -> list[AuditLine]:
    return [
        AuditLine(i, NOW, "U0ALICE", "approve", "pending", "enabled", f"detail {i}", "Hub", "Oak")
        for i in range(n)
    ]


def every_view(
    site: SiteRef = SITE, app: AppRef = APP, said: str = HOSTILE
) -> dict[str, Callable[[], Message]]:
    """One call of each view function, for the checks every view must pass; `said` is
    what people typed besides names: reasons, audit details, an upstream error."""
    upstream = UpstreamStatus("failed", "installation.enabled", 4, f"500 {said}", 12)
    infos = [
        replace(
            make_info(state, id=i, app=app, site=site, upstream=upstream),
            change_reason=said,
            removal=RemovalRequest("U0BOB", NOW, said) if state is State.DISABLED else None,
        )
        for i, state in enumerate(State, 1)
    ]
    counts = [PendingCount(app, 3, NOW - timedelta(days=2))]
    return {
        "install": lambda: views.install_message(infos[1], TZ),
        "install elsewhere": lambda: views.install_message(
            infos[1], TZ, elsewhere=("C0ELSEWHERE", HOSTILE)
        ),
        "install minimal": lambda: views.install_minimal(infos[1]),
        "channel refused": lambda: views.channel_refused_notice("C0X", HOSTILE, "UBOT"),
        "help": lambda: views.help_message(),
        "help problem": lambda: views.help_message(f"I don't know the command `{HOSTILE}`"),
        "apps": lambda: views.apps_listing(page_of([AppSummary(app, 1, 2, 3)], more=True)),
        "app": lambda: views.app_listing(app, page_of(infos[:3], previous=True, more=True), TZ),
        "customers": lambda: views.customers_listing(
            page_of(
                [CustomerSummary(site, tuple(CustomerApp(i.app, i.state) for i in infos[:3]))],
                previous=True,
                more=True,
            ),
            HOSTILE,
        ),
        "customer": lambda: views.customer_listing(
            site, page_of(infos[:3], more=True), TZ, any_enabled=True
        ),
        "pending": lambda: views.pending_listing(page_of(infos[:1]), TZ, NOW),
        "pending empty": lambda: views.pending_listing(page_of([]), TZ, NOW),
        "secret": lambda: views.secret_reply(infos[1], "ck_" + "a" * 24, "s" * 43),
        "audit": lambda: views.audit_listing(
            app,
            site,
            page_of(
                [AuditLine(1, NOW, "U0ALICE", "approve", "pending", "enabled", said, "", "", said)],
                more=True,
            ),
            TZ,
        ),
        "candidates apps": lambda: views.candidates("application", HOSTILE, [app, APP]),
        "candidates sites": lambda: views.candidates("site", HOSTILE, [site, SITE]),
        "not found": lambda: views.not_found("site", HOSTILE),
        "not allowed": views.not_allowed,
        "refusal stale": lambda: views.refusal(change(State.ENABLED, Action.APPROVE, "stale"), TZ),
        "refusal illegal": lambda: views.refusal(
            change(State.ENABLED, Action.REMOVE, "illegal"), TZ
        ),
        "done": lambda: views.change_done(change(State.ENABLED, Action.APPROVE), infos[1]),
        "disabled all": lambda: views.disabled_all(site, 3, 1),
        "database": views.database_unavailable,
        "unexpected": lambda: views.unexpected_error("e-1234"),
        "not enabled": lambda: views.not_enabled(infos[0]),
        "working": views.working_on_it,
        "burst": lambda: views.burst_summary([(app.name, 37)]),
        "reminder": lambda: views.reminder(infos[0], 2 * 86_400),
        "digest": lambda: views.digest(counts, infos[:1], TZ, NOW),
        "digest empty": lambda: views.digest([], [], TZ, NOW),
    }


@pytest.mark.parametrize("name", list(every_view()))
def test_every_view_round_trips_within_limits(name: str) -> None:
    check(every_view()[name]())


@pytest.mark.parametrize("name", list(every_view()))
def test_names_from_sims_id_are_escaped_everywhere(name: str) -> None:
    site = SiteRef(HOSTILE, HOSTILE, HOSTILE, HOSTILE)
    app = AppRef(HOSTILE, HOSTILE, HOSTILE, None, False, True)
    # Plain text is shown as sent: it pings nobody and must not be escaped.
    serialised = json.dumps(without_plain_text(every_view(site, app)[name]().to_dict()))
    assert "<!channel>" not in serialised
    assert "<b>" not in serialised


# A name or reason drawing lines and formatting of its own: "State: Enabled", bold,
# an emoji, a right-to-left override. Shown as typed, it forged the install message.
FORGED = "Oak\n*State*: Enabled\r\n_Approved_ ~by~ `Mallory` :skull:\u2028\u202eDone"
_FORMATTING = ("*State*:", "_Approved_", "~by~", "`Mallory`", ":skull:")
_NEW_LINE = re.compile(r"[\n\r\u2028\u2029\u202e]\W*(State|Enabled|Approved|Done)")


def every_surface(site: SiteRef, app: AppRef, said: str) -> dict[str, dict[str, Any]]:
    """Every message, modal, Home tab and channel notice, as the JSON sent to Slack."""
    shown: dict[str, Any] = {k: v().to_dict() for k, v in every_view(site, app, said).items()}
    info = replace(make_info(State.ENABLED, app=app, site=site), change_reason=said)
    asked = replace(info, id=2, removal=RemovalRequest("U0BOB", NOW, said))
    ask = ReasonAsk("disable", info.id, info.version)
    line = AuditLine(1, NOW, "U0ALICE", "disable", "enabled", "disabled", said, app.name,
                     site.name, said)  # fmt: skip
    example = {"kind": "disable", "application": app.name, "site": site.name}
    notice = {"source": "list.csv", "examples": [example], "total": 2, "changed": {"disable": 1}}
    shown |= {
        "disable modal": views.disable_modal(info, ask),
        "remove modal": views.remove_modal(info, replace(ask, kind="remove"), two_person=True),
        "disable all modal": views.disable_all_modal(site, ReasonAsk("disable_all", site_id="s")),
        "home": views.admin_home(
            apps=[AppSummary(app, 1, 2, 3)],
            more_apps=False,
            waiting=[info],
            requests=[asked],
            decisions=[line],
            tz=TZ,
            now=NOW,
        ),
        "reconciled": views.reconcile_notice(Notice.from_payload(notice)).to_dict(),
        "reconcile refused": views.reconcile_notice(
            Notice.from_payload({**notice, "notice": "reconcile_refused", "reason": said})
        ).to_dict(),
    }
    return shown


@pytest.mark.parametrize("name", list(every_surface(SITE, APP, HOSTILE)))
def test_names_and_reasons_are_shown_as_plain_text_everywhere(name: str) -> None:
    """Names and reasons cannot draw lines or formatting of their own on any surface:
    line breaks and controls fold to spaces, mrkdwn's formatting characters are shown as
    lookalikes. Plain text follows the same rule: a header renders emoji."""
    site = SiteRef("site-1", FORGED, FORGED, FORGED)
    app = AppRef("app-1", FORGED, "app-1", None, False, True)
    payload = every_surface(site, app, FORGED)[name]
    texts = [o["text"] for o in walk(payload) if o.get("type") in ("mrkdwn", "plain_text")]
    texts.append(payload.get("text", ""))  # a message's fallback, for notifications
    for text in texts:
        assert not _NEW_LINE.search(text), text
        assert not any(forged in text for forged in _FORMATTING), text
    if "Oak" in dumps(payload):
        assert "State" in dumps(payload)  # the name is shown, made harmless


def test_literal_folds_lines_and_shows_formatting_characters_as_lookalikes() -> None:
    assert literal("Oak\r\n\tAcademy\u2028x") == "Oak Academy x"
    assert literal("Tom & <Jerry>") == "Tom &amp; &lt;Jerry&gt;"
    shown = literal("*b* _i_ ~s~ `c` :skull: :+1::100:")
    assert not set("*_~`") & set(shown) and not re.search(r":[\w+-]", shown), shown
    assert as_typed(shown) == "*b* _i_ ~s~ `c` :skull: :+1::100:"  # a copy finds the site
    assert literal("Oakfield Primary (URN 123456)") == "Oakfield Primary (URN 123456)"
    assert literal("Billing: invoice 42 unpaid") == "Billing: invoice 42 unpaid"


_OWN = str.maketrans(dict.fromkeys("\u2217\u02cd\u223c\u02cb", " "))  # literal's lookalikes
_LINE_BREAKING = "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"


@given(st.text() | st.text(st.sampled_from("ab :*_~`\n\r\x85\u2028\u202e+-1")))
def test_literal_shows_any_text_on_one_line_without_formatting(text: str) -> None:
    shown = literal(text)
    assert not re.search(_LINE_BREAKING, shown), repr(shown)
    assert not set("*_~`<>") & set(shown), shown
    # No colon before a character an emoji's name may hold: ":skull:" draws nothing.
    assert not re.search(r":[\w+'-]", shown.translate(_OWN)), shown
    if not set(text) & set("\u2217\u02cd\u223c\u02cb\u2236"):  # else as_typed reads them too
        assert unescape(as_typed(shown)) == re.sub(_LINE_BREAKING + "+", " ", text)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (State.PENDING, [ActionId.APPROVE, ActionId.DISABLE, ActionId.REMOVE]),
        (State.ENABLED, [ActionId.DISABLE]),
        (State.DISABLED, [ActionId.ENABLE, ActionId.REMOVE]),
        (State.REMOVED, []),
    ],
)
def test_install_message_shows_the_buttons_valid_for_its_state(
    state: State, expected: list[ActionId]
) -> None:
    message = views.install_message(make_info(state), TZ)
    assert action_ids(message) == expected
    for button in buttons(check(message)):
        assert decode_installation(button["value"]) == (1, 7)


def test_approve_is_primary_and_remove_is_danger_behind_a_form() -> None:
    site = SiteRef("s1", "A" * 400, None, None)
    dicts = check(views.install_message(make_info(State.PENDING, site=site), TZ))
    by_id = {b["action_id"]: b for b in buttons(dicts)}
    assert by_id[ActionId.APPROVE]["style"] == "primary"
    assert "style" not in by_id[ActionId.DISABLE]
    remove = by_id[ActionId.REMOVE]
    assert remove["style"] == "danger"
    # The modal asking why is the confirmation: no dialog before it.
    assert "confirm" not in remove and "confirm" not in by_id[ActionId.DISABLE]


def test_confirm_removal_is_danger_behind_a_confirm() -> None:
    from dataclasses import replace

    from store.queries import RemovalRequest

    site = SiteRef("s1", "A" * 400, None, None)
    info = replace(
        make_info(State.DISABLED, site=site), removal=RemovalRequest("U0BOB", NOW, "dup")
    )
    by_id = {b["action_id"]: b for b in buttons(check(views.install_message(info, TZ)))}
    confirm = by_id[ActionId.CONFIRM_REMOVAL]["confirm"]
    assert confirm["style"] == "danger"
    assert confirm["title"]["text"].startswith("Remove from AAA")
    assert len(confirm["title"]["text"]) <= 100
    assert len(confirm["text"]["text"]) <= 300
    assert "secret" in confirm["text"]["text"]
    assert (confirm["confirm"]["text"], confirm["deny"]["text"]) == ("Remove", "Cancel")
    assert ActionId.REMOVE not in by_id and "confirm" not in by_id[ActionId.CANCEL_REMOVAL]


def test_install_message_names_site_labels_and_who_changed_it() -> None:
    info = make_info(State.ENABLED, changed_by="U0ALICE")
    message = views.install_message(info, TZ)
    serialised = texts(message)
    for label in ("Oakfield Primary", "123456", "823/4001", "Homework Hub", "Enabled"):
        assert label in serialised
    assert "Enabled by <@U0ALICE> at 27 Nov 2026 08:00 GMT" in serialised
    assert "Oakfield Primary" in message.text and "Homework Hub" in message.text


def test_install_message_without_a_change_has_no_changed_line() -> None:
    assert " by " not in texts(views.install_message(make_info(changed_by=None), TZ))


@pytest.mark.parametrize("state", list(State))
def test_sims_primary_note_only_when_enabled(state: State) -> None:
    serialised = texts(views.install_message(make_info(state, app=PRIMARY_APP), TZ))
    assert ("partner support" in serialised) is (state is State.ENABLED)
    plain = texts(views.install_message(make_info(state), TZ))
    assert "partner support" not in plain


def test_upstream_status_lines() -> None:
    def render(status: str, error: str | None) -> str:
        upstream = UpstreamStatus(status, "installation.enabled", 3, error, 42)
        return texts(views.install_message(make_info(State.ENABLED, upstream=upstream), TZ))

    assert "Applied upstream" in render("applied", None)
    assert "try 3, last error: timeout &lt;x&gt;" in render("waiting", "timeout <x>")
    assert "Upstream refused this decision: 400 bad" in render("failed", "400 bad")
    upstream = UpstreamStatus("failed", "installation.enabled", 3, "x" * 10_000, 42)
    message = views.install_message(make_info(State.ENABLED, upstream=upstream), TZ)
    retry = [b for b in buttons(check(message)) if b["action_id"] == ActionId.RETRY_UPSTREAM]
    assert [decode_outbox(b["value"]) for b in retry] == [42]
    waiting = UpstreamStatus("waiting", "installation.enabled", 3, None, 42)
    message = views.install_message(make_info(State.ENABLED, upstream=waiting), TZ)
    assert ActionId.RETRY_UPSTREAM not in action_ids(message)


def test_app_listing_pages_forward_and_back() -> None:
    infos = [make_info(id=i, site=SiteRef(f"s{i}", f"School {i}", None, None)) for i in range(20)]
    dicts = check(views.app_listing(APP, page_of(infos, previous=True, more=True), TZ))
    pages = {
        b["action_id"]: decode_page(b["value"])
        for b in buttons(dicts)
        if b["action_id"] in (ActionId.PAGE, ActionId.PAGE_PREVIOUS)
    }
    # Next starts after the last item shown, Previous ends before the first: no offsets.
    assert pages[ActionId.PAGE] == PageRef("app", APP.id, after=key(19))
    assert pages[ActionId.PAGE_PREVIOUS] == PageRef("app", APP.id, before=key(0))
    # Each installation has its own actions block, so every one gets its buttons.
    install_blocks = [b for b in dicts if b.get("block_id", "").startswith("simsid_install:")]
    assert len(install_blocks) == 20


def test_single_page_has_no_pager() -> None:
    message = views.apps_listing(page_of([AppSummary(APP, 1, 2, 3)]))
    assert action_ids(message) == []
    assert "1 pending" in texts(message) and "3 disabled" in texts(message)


def test_a_page_too_big_for_one_message_is_cut_and_next_resumes_where_it_stopped() -> None:
    infos = [make_info(id=i) for i in range(40)]
    dicts = check(views.app_listing(APP, page_of(infos, limit=40), TZ))
    shown = sum(1 for b in dicts if b.get("block_id", "").startswith("simsid_install:"))
    assert 0 < shown < 40
    assert f"{40 - shown} more not shown here" in dumps(dicts)
    nxt = [b for b in buttons(dicts) if b["action_id"] == ActionId.PAGE]
    assert decode_page(nxt[0]["value"]) == PageRef("app", APP.id, after=key(shown - 1))


def test_customers_listing_pages_with_the_search() -> None:
    customers = [CustomerSummary(SITE, (CustomerApp(APP, State.ENABLED),))]
    dicts = check(views.customers_listing(page_of(customers, more=True), "oak"))
    (nxt,) = buttons(dicts)
    assert decode_page(nxt["value"]) == PageRef("customers", "oak", after=key(0))
    assert "Homework Hub" in dumps(dicts)


def test_customer_listing_offers_disable_all_only_while_something_is_enabled() -> None:
    enabled = [make_info(State.ENABLED, id=1), make_info(State.PENDING, id=2)]
    dicts = check(views.customer_listing(SITE, page_of(enabled), TZ, any_enabled=True))
    (disable_all,) = [b for b in buttons(dicts) if b["action_id"] == ActionId.DISABLE_ALL]
    assert decode_site(disable_all["value"]) == SITE.id
    assert disable_all["style"] == "danger"
    assert "confirm" not in disable_all  # the form asking why confirms it
    idle = [make_info(State.DISABLED, id=1), make_info(State.PENDING, id=2)]
    listing = views.customer_listing(SITE, page_of(idle), TZ, any_enabled=False)
    assert ActionId.DISABLE_ALL not in action_ids(listing)


def test_pending_listing_shows_the_wait_and_an_empty_page_is_friendly() -> None:
    message = views.pending_listing(page_of([make_info()]), TZ, NOW)
    assert "Waiting 3 days 4 hours" in texts(message)
    assert ActionId.APPROVE in action_ids(message)
    assert "Nothing is waiting for approval" in texts(views.pending_listing(page_of([]), TZ, NOW))


def test_secret_reply_uses_code_spans_and_keeps_the_secret_out_of_the_fallback() -> None:
    secret = "x" * 43
    message = views.secret_reply(make_info(State.ENABLED), "ck_" + "k" * 24, secret)
    assert f"`{secret}`" in texts(message)
    assert f"`ck_{'k' * 24}`" in texts(message)
    assert secret not in message.text
    assert "audit" in texts(message) and "Only visible to you" in texts(message)
    assert "Generated by this bot" in texts(message)


def test_secret_reply_says_credentials_came_from_sims_ids_report() -> None:
    message = views.secret_reply(make_info(State.ENABLED), "ck_" + "k" * 24, "x" * 43, "sims-id")
    assert "SIMS ID's report" in texts(message)
    assert "Generated by this bot" not in texts(message)


def test_audit_listing_pages_with_app_and_site() -> None:
    page = page_of(audit_lines(20), more=True)
    dicts = check(views.audit_listing(APP, SITE, page, TZ))
    (nxt,) = buttons(dicts)
    assert decode_page(nxt["value"]) == PageRef("audit", f"{APP.id} {SITE.id}", after=key(19))
    assert "<@U0ALICE>" in dumps(dicts) and "pending → enabled" in dumps(dicts)
    (nxt,) = buttons(check(views.audit_listing(APP, None, page, TZ)))
    assert decode_page(nxt["value"]).arg == APP.id


def test_help_lists_every_subcommand_and_shows_a_problem_first() -> None:
    serialised = texts(views.help_message())
    for usage in (
        "help",
        "apps",
        "app &lt;app&gt;",
        "customers [search]",
        "customer &lt;site&gt;",
        "pending",
        "secret &lt;app&gt; &lt;site&gt;",
        "audit &lt;app&gt; [&lt;site&gt;]",
    ):
        assert f"`/simsid {usage}`" in serialised
    dicts = check(views.help_message("I don't know the command `<foo>`"))
    assert dicts[0]["text"]["text"].endswith("I don't know the command `&lt;foo&gt;`")


def test_refusals_say_what_happened() -> None:
    stale = views.refusal(change(State.ENABLED, Action.APPROVE, "stale"), TZ)
    assert stale.text == "Already enabled by <@U0ALICE> at 27 Nov 2026 09:00 GMT; nothing changed."
    illegal = views.refusal(change(State.ENABLED, Action.REMOVE, "illegal"), TZ)
    assert illegal.text == "Remove is not possible while the installation is enabled."


def test_short_replies() -> None:
    assert views.not_allowed().text == (
        "Only SIMS ID admins can do that; ask an admin to add you to SIMSID_ADMINS."
    )
    assert "nothing was changed" in views.database_unavailable().text
    assert "`e-42`" in views.unexpected_error("e-42").text
    assert views.working_on_it().text == "Working on it…"
    burst = views.burst_summary([("Homework Hub", 37)])
    assert burst.text == "37 more installs of Homework Hub are waiting: `/simsid pending`"
    reminder = views.reminder(make_info(), 2 * 86_400)
    assert reminder.text.startswith("Still waiting for approval after 2 days: *Oakfield Primary*")
    assert "2 applications" in views.disabled_all(SITE, 2, 1).text
    assert "Approve it first" in views.not_enabled(make_info()).text
    done = views.change_done(change(State.ENABLED, Action.APPROVE), make_info(State.ENABLED))
    assert done.text.startswith(":white_check_mark: Approved *Homework Hub* for *Oakfield Primary*")


def test_candidates_list_ids_and_labels() -> None:
    other = SiteRef("9x", "Oakfield Junior", "654321", None)
    serialised = texts(views.candidates("site", "oak", [SITE, other]))
    for text in ("Several sites match `oak`", "`4f0c2a9e`", "URN 123456", "`9x`", "with the id"):
        assert text in serialised


def test_digest_of_a_huge_backlog_stays_within_slack_limits() -> None:
    apps = [
        AppRef(f"a{i}", f"App {i} " + "n" * 200, f"a{i}", None, False, False) for i in range(10_000)
    ]
    counts = [
        PendingCount(app, 1 + i % 7, NOW - timedelta(minutes=i)) for i, app in enumerate(apps)
    ]
    oldest = [make_info(id=i, app=apps[i % 10_000]) for i in range(5_000)]
    message = views.digest(counts, oldest, TZ, NOW)
    dicts = check(message)
    serialised = json.dumps(dicts)
    assert "and 9,980 more applications" in serialised
    assert ActionId.APPROVE in action_ids(message)
    assert len([b for b in buttons(dicts) if b["action_id"] == ActionId.APPROVE]) == 5
    assert "`/simsid pending`" in serialised
    # The longest waiting application comes first.
    assert serialised.index("App 9999 ") < serialised.index("App 9998 ")


def test_digest_only_offers_approve() -> None:
    counts = [PendingCount(APP, 2, NOW - timedelta(hours=5))]
    message = views.digest(counts, [make_info(id=1), make_info(id=2)], TZ, NOW, max_buttons=5)
    assert action_ids(message) == [ActionId.APPROVE, ActionId.APPROVE]
    assert "the oldest for 5 hours" in texts(message)
    assert "more waiting" not in texts(message)


# -- ids ---------------------------------------------------------------------


def test_every_installation_action_has_a_button() -> None:
    assert set(INSTALLATION_ACTIONS.values()) == set(Action)
    assert all(INSTALLATION_ACTIONS[BUTTON_FOR[a]] is a for a in Action)
    assert all(member.startswith("simsid_") for member in ActionId)


@given(st.integers(0, 10**15), st.integers(0, 10**15))
def test_installation_values_round_trip(installation_id: int, version: int) -> None:
    assert decode_installation(encode_installation(installation_id, version)) == (
        installation_id,
        version,
    )


cursor_parts = st.one_of(st.text(max_size=600), st.integers(0, 10**18))


@given(
    st.text(max_size=3000),
    st.text(max_size=3000),
    st.tuples(cursor_parts, st.text(max_size=200) | st.integers(0, 10**18)),
    st.sampled_from(["after", "before", "first"]),
)
def test_page_values_round_trip_and_stay_short(
    command: str, arg: str, cursor: tuple[Any, Any], where: str
) -> None:
    command = command[:50]
    value = encode_page(command, arg, **({} if where == "first" else {where: cursor}))
    assert len(value) < 2000
    assert "<" not in value and ">" not in value and "&" not in value
    ref = decode_page(value)
    assert ref.command == command
    assert arg.startswith(ref.arg)
    if len(arg) <= 100 and arg.isprintable():
        assert ref.arg == arg
    if where == "first":
        assert ref.after is None and ref.before is None
    elif len(str(cursor[0])) <= 300 and len(arg) <= 100:
        assert getattr(ref, where) == cursor  # exact whenever it fits


@pytest.mark.parametrize("fill", ["a", "&", "é"])
def test_a_page_value_too_long_never_skips_items(fill: str) -> None:
    """The sort key of a page value may be cut short, so Next repeats an item rather than
    skip one; Previous, which a short key would make skip, goes to the first page."""
    name, site_id = fill * 500, "s" * 200
    after = decode_page(encode_page("customers", fill * 500, after=(name, site_id))).after
    assert after is not None and name.startswith(str(after[0])) and after[1] == site_id
    before = decode_page(encode_page("customers", fill * 500, before=(name, site_id)))
    assert before.before in (None, (name, site_id))


def test_page_values_of_older_messages_open_the_first_page() -> None:
    assert decode_page('{"c":"app","a":"x","o":40}') == PageRef("app", "x")


@given(st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=200))
def test_site_values_round_trip(site_id: str) -> None:
    value = encode_site(site_id)
    assert "<" not in value and "&" not in value
    assert decode_site(value) == site_id


@pytest.mark.parametrize("char", ["a", "é", "👍🏽", "%", "<"])
def test_the_longest_site_id_fits_a_button_value(char: str) -> None:
    site_id = (char * 200)[:200]  # the schema's longest id
    value = encode_site(site_id)
    assert len(value) <= 2000
    assert decode_site(value) == site_id


def test_fully_quoted_site_values_of_older_messages_still_decode() -> None:
    assert decode_site("Oak%20%C3%A9%26%3C") == "Oak é&<"


@pytest.mark.parametrize(
    "garbage",
    ["", "1", "1:", ":2", "a:b", "1:2:3", " 1:2", "-1:2", "\uff11:\uff12", None, 12, "1:2\n"],
)
def test_garbage_installation_values_raise(garbage: Any) -> None:
    with pytest.raises(ValueError):
        decode_installation(garbage)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "{",
        "[]",
        "null",
        '{"c":"app"}',
        '{"c":"app","a":"x","n":[1]}',
        '{"c":"app","a":"x","n":[true,1]}',
        '{"c":"app","a":"x","n":[1.5,1]}',
        '{"c":"app","a":"x","n":"k"}',
        '{"c":"app","a":"x","n":[1,2],"p":[1,2]}',
        '{"c":"app","a":"x","o":-1}',
        '{"c":"app","a":"x","o":true}',
        '{"c":"app","a":"x","o":"3"}',
        '{"c":1,"a":"x","o":3}',
        '{"c":"app","a":"x","o":3,"z":1}',
        None,
    ],
)
def test_garbage_page_values_raise(garbage: Any) -> None:
    with pytest.raises(ValueError):
        decode_page(garbage)


@pytest.mark.parametrize("garbage", ["", None, "x" * 2001, "%ff"])
def test_garbage_site_values_raise(garbage: Any) -> None:
    with pytest.raises(ValueError):
        decode_site(garbage)


@pytest.mark.parametrize("garbage", ["", None, "x", "-1", "1.5", " 1"])
def test_garbage_outbox_values_raise(garbage: Any) -> None:
    with pytest.raises(ValueError):
        decode_outbox(garbage)


# -- text --------------------------------------------------------------------


def unescape(text: str) -> str:
    return text.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")


@given(st.text())
def test_escape_removes_control_characters_and_is_reversible(text: str) -> None:
    escaped = escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert unescape(escaped) == text


def test_escape_touches_only_the_three_characters() -> None:
    assert escape('Tom\'s "café" & <Jerry>') == 'Tom\'s "café" &amp; &lt;Jerry&gt;'


@given(st.text(), st.integers(5, 3000))
def test_clip_keeps_the_limit_and_never_leaves_half_an_entity(text: str, limit: int) -> None:
    clipped = clip(escape(text), limit)
    assert len(clipped) <= limit
    tail = clipped.removesuffix("…")
    assert text.startswith(unescape(tail))
    assert not tail.endswith(("&", "&a", "&am", "&amp", "&l", "&lt", "&g", "&gt"))


def test_clip_drops_a_half_mention() -> None:
    assert clip("hello <@U12345>", 12) == "hello …"


def test_mentions() -> None:
    assert mention("U0ALICE") == "<@U0ALICE>"
    assert mention("W123") == "<@W123>"
    assert mention("sims-id") == "SIMS ID"
    assert mention("<!here>") == "&lt;!here&gt;"
    assert mention("u123") == "u123"


def test_times_and_waits() -> None:
    assert format_time(NOW, TZ) == "27 Nov 2026 09:00 GMT"
    assert format_time(datetime(2026, 7, 1, 8, 5, tzinfo=UTC), TZ) == "1 Jul 2026 09:05 BST"
    assert format_time(datetime(2026, 11, 27, 9, 0), TZ) == "27 Nov 2026 09:00 GMT"
    assert format_wait(3 * 86_400 + 4 * 3_600 + 59) == "3 days 4 hours"
    assert format_wait(45 * 60) == "45 minutes"
    assert format_wait(86_400) == "1 day"
    assert format_wait(3_600 + 60) == "1 hour 1 minute"
    assert format_wait(10) == "less than a minute"
    assert format_wait(-5) == "less than a minute"


def test_state_labels() -> None:
    assert state_label(State.PENDING) == ":hourglass_flowing_sand: Pending approval"
    assert state_label(State.ENABLED) == ":white_check_mark: Enabled"
    assert state_label(State.DISABLED) == ":no_entry: Disabled"
    assert state_label(State.REMOVED) == ":wastebasket: Removed"
