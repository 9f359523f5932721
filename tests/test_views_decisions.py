"""Views of decisions: the reason modals, the Home tab, reasons and removal requests on
the install message. Plain data in, Slack-valid dicts out; no database."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.slack import views
from bot.slack.ids import ActionId, ReasonAsk, decode_reason_ask, encode_reason_ask
from store.lifecycle import Action
from store.models import State
from store.queries import AppSummary, AuditLine, RemovalRequest, SiteRef, VoidRemoval
from tests.blockkit import check_message, check_view
from tests.test_views import APP, HOSTILE, NOW, TZ, change, make_info

HOSTILE_SITE = SiteRef("s-evil", HOSTILE, HOSTILE, None)


def _checked(view: dict[str, Any]) -> dict[str, Any]:
    """The view as Slack's own model reads it back: same JSON, limits respected."""
    parsed = View(**view)
    parsed.validate_json()
    check_view(view)  # parses back to the same JSON and keeps Slack's limits
    return view


def _buttons(view: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_reason_asks_round_trip_and_reject_junk() -> None:
    for ask in (
        ReasonAsk("disable", 12, 3, response_url="https://hooks.slack.com/x", home=True),
        ReasonAsk("remove", 1, 1),
        ReasonAsk("disable_all", site_id="a site/with spaces"),
    ):
        assert decode_reason_ask(encode_reason_ask(ask)) == ask
    for junk in (None, "", "[]", '{"k":"approve","i":1,"v":1}', '{"k":"disable","i":"1","v":1}'):
        try:
            decode_reason_ask(junk)
        except ValueError:
            continue
        raise AssertionError(f"accepted {junk!r}")
    # A response_url that would not fit is left out rather than failing the form.
    long = ReasonAsk("remove", 1, 1, response_url="https://x/" + "a" * 3000)
    assert decode_reason_ask(encode_reason_ask(long)).response_url is None


def test_modals_are_valid_and_escape_names() -> None:
    info = make_info(State.ENABLED, site=HOSTILE_SITE)
    ask = ReasonAsk("disable", info.id, info.version)
    disable = _checked(views.disable_modal(info, ask))
    remove = _checked(views.remove_modal(info, replace(ask, kind="remove"), two_person=False))
    asking = _checked(views.remove_modal(info, replace(ask, kind="remove"), two_person=True))
    every = _checked(views.disable_all_modal(HOSTILE_SITE, ReasonAsk("disable_all", site_id="s")))
    for modal in (disable, remove, asking, every):
        dumped = json.dumps(modal)
        assert "<!channel>" not in dumped and "&lt;!channel&gt;" in dumped
        assert modal["callback_id"] == "simsid_reason"
    # Disable's reason and its maintenance window's end are both optional.
    [optional, until] = [b for b in disable["blocks"] if b["type"] == "input"]
    [required] = [b for b in remove["blocks"] if b["type"] == "input"]
    assert optional["optional"] is True and required["optional"] is False
    assert until["element"]["type"] == "datetimepicker" and until["optional"] is True
    assert asking["submit"]["text"] == "Ask to remove" and "Another admin" in json.dumps(asking)
    outcome = _checked(views.outcome_modal("Nothing changed", "Already disabled"))
    assert "submit" not in outcome


def test_install_message_shows_the_reason_and_the_removal_request() -> None:
    info = replace(make_info(State.DISABLED, changed_by="U0ALICE"), change_reason=HOSTILE)
    message = views.install_message(info, TZ).to_dict()
    dumped = json.dumps(message)
    assert "Disabled by <@U0ALICE>" in dumped and ": &lt;!channel&gt; &amp; &lt;b&gt;" in dumped
    assert set(_buttons(message)) == {ActionId.ENABLE, ActionId.REMOVE}

    asked = replace(info, removal=RemovalRequest("U0BOB", NOW, "duplicate"))
    message = views.install_message(asked, TZ).to_dict()
    assert "<@U0BOB> asked to remove it: duplicate" in json.dumps(message)
    assert _buttons(message) == [
        ActionId.ENABLE,
        ActionId.CONFIRM_REMOVAL,
        ActionId.CANCEL_REMOVAL,
    ]
    Block.parse_all(message["blocks"])


def test_install_message_says_a_void_request_needs_a_fresh_one() -> None:
    """The requester was no longer an admin when another confirmed."""
    info = make_info(State.DISABLED, changed_by="U0ALICE")
    void = replace(info, void_removal=VoidRemoval("U0BOB", HOSTILE))
    message = views.install_message(void, TZ).to_dict()
    dumped = json.dumps(message)
    assert "<@U0BOB> asked to remove it: &lt;!channel&gt;" in dumped
    assert "Void: <@U0BOB> is no longer a SIMS ID admin" in dumped
    assert "A fresh request is needed" in dumped
    assert set(_buttons(message)) == {ActionId.ENABLE, ActionId.REMOVE}
    check_message(message)
    revoked = replace(
        change(State.DISABLED, Action.REMOVE, refusal="requester_revoked"),
        removal_requested_by="U0BOB",
    )
    said = views.refusal(revoked, TZ).text
    assert "<@U0BOB>" in said and "void" in said and "fresh request" in said


def test_replies_for_the_two_person_rule() -> None:
    info = make_info(State.DISABLED)
    requested = replace(change(State.DISABLED, Action.REMOVE), step="requested")
    assert "another admin must confirm" in views.change_done(requested, info).text
    cancelled = replace(change(State.DISABLED, Action.REMOVE), step="cancelled")
    assert "Cancelled" in views.change_done(cancelled, info).text
    own = change(State.DISABLED, Action.REMOVE, refusal="own_request")
    assert "another admin must confirm" in views.refusal(own, TZ).text
    stale = replace(
        change(State.DISABLED, Action.DISABLE, refusal="stale"), removal_requested_by="U0BOB"
    )
    assert "<@U0BOB> has asked to remove it" in views.refusal(stale, TZ).text


def test_admin_home_fits_one_view_with_everything_at_its_largest() -> None:
    apps = [AppSummary(replace(APP, id=f"a{n}", name=f"{HOSTILE} {n}"), n, n, n) for n in range(40)]
    waiting = [make_info(id=n, site=HOSTILE_SITE, waited=timedelta(days=n)) for n in range(12)]
    requests = [
        replace(
            make_info(State.DISABLED, id=100 + n), removal=RemovalRequest("U0B", NOW, "x" * 600)
        )
        for n in range(12)
    ]
    decisions = [
        AuditLine(
            n, NOW, "U0ALICE", "disable", "enabled", "disabled", None, HOSTILE, HOSTILE, "y" * 600
        )
        for n in range(12)
    ]
    home = _checked(
        views.admin_home(
            apps=apps,
            more_apps=True,
            waiting=waiting,
            more_waiting=True,
            requests=requests,
            decisions=decisions,
            tz=TZ,
            now=NOW,
            notice=":white_check_mark: Approved",
        )
    )
    dumped = json.dumps(home)
    assert "<!channel>" not in dumped
    assert _buttons(home).count(ActionId.APPROVE) == 10
    assert _buttons(home).count(ActionId.CONFIRM_REMOVAL) == 10
    assert "More in `/simsid pending`" in dumped and "Approved" in json.dumps(home["blocks"][1])


def test_empty_admin_home_and_visitor_home() -> None:
    empty = _checked(
        views.admin_home(
            apps=[], more_apps=False, waiting=[], requests=[], decisions=[], tz=TZ, now=NOW
        )
    )
    assert "Nothing is waiting" in json.dumps(empty) and not _buttons(empty)
    visitor = _checked(views.visitor_home(["U0ALICE"], ["S0ADMINS"]))
    dumped = json.dumps(visitor)
    assert "<@U0ALICE>" in dumped and "<!subteam^S0ADMINS>" in dumped and not _buttons(visitor)
    nobody = _checked(views.visitor_home([], []))
    assert "whoever runs this bot" in json.dumps(nobody)


def test_a_pending_install_asked_for_removal_shows_once_on_the_home_tab() -> None:
    """It is both waiting and asked for removal: shown in both sections, its button rows
    had one block_id twice, a view Slack refuses to publish."""
    asked = replace(make_info(id=7), removal=RemovalRequest("U0BOB", NOW, "duplicate"))
    other = make_info(id=8)
    home = _checked(
        views.admin_home(
            apps=[],
            more_apps=False,
            waiting=[asked, other],
            requests=[asked],
            decisions=[],
            tz=TZ,
            now=NOW,
        )
    )
    assert _buttons(home).count(ActionId.CONFIRM_REMOVAL) == 1
    assert _buttons(home).count(ActionId.APPROVE) == 2  # the asked one keeps Approve
    assert json.dumps(home).count(":hourglass_flowing_sand: Waiting") == 1
