"""Decisions people can answer for, dispatched to the Bolt app in process (signed as
Slack signs): reasons asked in a modal, the two-person rule for Remove, and the App Home
dashboard."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import BotApp, create_app
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from store.lifecycle.domain import open_request
from store.models import AuditEntry, Installation, OutboxItem, OutboxKind, State
from tests import harness
from tests.conftest import make_settings
from tests.harness import (
    ADMIN,
    CHANNEL,
    OTHER_ADMIN,
    OUTSIDER,
    Client,
    buttons,
    install_and_wait,
    wait_until,
)

NOT_ALLOWED = "Only SIMS ID admins"


def _message(fs: FakeSlack) -> dict[str, Any]:
    return fs.channel_messages(CHANNEL)[0]


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _state(bot: BotApp) -> State:
    with bot.db.read() as session:
        return State(session.scalars(select(Installation.state)).one())


def _audit(bot: BotApp) -> list[tuple[str, str, str | None]]:
    """(actor, action, reason) of every audit row, oldest first."""
    with bot.db.read() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.reason).order_by(
                AuditEntry.id  # type: ignore[arg-type]
            )
        ).all()
    return [(a, b, c) for a, b, c in rows]


def _wait_buttons(fs: FakeSlack, expected: set[str]) -> dict[str, Any]:
    assert fs.wait_for(lambda: set(buttons(_message(fs))) == expected), buttons(_message(fs))
    return _message(fs)


def _enabled(dispatched: Client, fs: FakeSlack) -> dict[str, Any]:
    message = install_and_wait(dispatched, fs)
    dispatched.click(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"])
    return _wait_buttons(fs, {ActionId.DISABLE})


def _disabled(dispatched: Client, fs: FakeSlack, reason: str = "billing") -> dict[str, Any]:
    message = _enabled(dispatched, fs)
    answer = dispatched.decide(fs, ActionId.DISABLE, buttons(message)[ActionId.DISABLE], reason)
    assert answer.status == 200 and not answer.body.strip(), answer.body
    return _wait_buttons(fs, {ActionId.ENABLE, ActionId.REMOVE})


def _modal_opened(fs: FakeSlack, before: int) -> dict[str, Any]:
    assert fs.wait_for(lambda: len(fs.opened) > before), "no modal opened"
    return fs.opened_views()[before]


# -- reasons ---------------------------------------------------------------------------


def test_disable_asks_why_and_the_reason_goes_to_audit_and_message(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = _enabled(dispatched, fake_slack)
    dispatched.click(ActionId.DISABLE, buttons(message)[ActionId.DISABLE], message_ts=message["ts"])
    modal = _modal_opened(fake_slack, 0)
    assert modal["callback_id"] == "simsid_reason"
    assert "Oakfield Primary" in _text(modal["blocks"])
    [field, until] = [b for b in modal["blocks"] if b["type"] == "input"]
    assert field["optional"] is True and until["optional"] is True  # no window by default
    assert fake_slack.opened[0][1]["trigger_id"].startswith("trig.")
    assert _state(bot) is State.ENABLED  # nothing happens until the form is sent

    answer = dispatched.submit_view(modal, "  Billing: invoice\n 42 unpaid  ")
    assert answer.status == 200 and not answer.body.strip()  # the form closes
    assert _state(bot) is State.DISABLED
    assert _audit(bot)[-1] == (ADMIN, "disable", "Billing: invoice 42 unpaid")
    updated = _wait_buttons(fake_slack, {ActionId.ENABLE, ActionId.REMOVE})
    assert f"Disabled by <@{ADMIN}>" in _text(updated["blocks"])
    assert ": Billing: invoice 42 unpaid" in _text(updated["blocks"])
    audit = dispatched.slash("audit homework oakfield").json()
    assert "Billing: invoice 42 unpaid" in _text(audit)


def test_disable_without_a_reason_is_fine(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = _enabled(dispatched, fake_slack)
    answer = dispatched.decide(
        fake_slack, ActionId.DISABLE, buttons(message)[ActionId.DISABLE], None
    )
    assert answer.status == 200 and not answer.body.strip()
    assert _state(bot) is State.DISABLED
    assert _audit(bot)[-1] == (ADMIN, "disable", None)


def test_remove_needs_a_reason(dispatched: Client, fake_slack: FakeSlack, bot: BotApp) -> None:
    message = _disabled(dispatched, fake_slack)
    dispatched.click(ActionId.REMOVE, buttons(message)[ActionId.REMOVE], message_ts=message["ts"])
    modal = _modal_opened(fake_slack, 1)
    [field] = [b for b in modal["blocks"] if b["type"] == "input"]
    assert field["optional"] is False
    for blank in (None, "   "):
        answer = dispatched.submit_view(modal, blank)
        assert answer.json()["response_action"] == "errors"
        assert "simsid_reason" in answer.json()["errors"]
        assert _state(bot) is State.DISABLED
    answer = dispatched.submit_view(modal, "x" * 501)
    assert answer.json()["response_action"] == "errors"

    answer = dispatched.submit_view(modal, "No longer a customer")
    assert answer.status == 200 and not answer.body.strip()
    assert _state(bot) is State.REMOVED
    assert _audit(bot)[-1] == (ADMIN, "remove", "No longer a customer")
    assert fake_slack.wait_for(lambda: not buttons(_message(fake_slack)))
    assert "No longer a customer" in _text(_message(fake_slack)["blocks"])


def test_a_stale_modal_is_told_what_happened_instead(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = _enabled(dispatched, fake_slack)
    disable = buttons(message)[ActionId.DISABLE]
    dispatched.click(ActionId.DISABLE, disable, message_ts=message["ts"])
    first = _modal_opened(fake_slack, 0)
    # Someone else disables it while the first form is open.
    dispatched.decide(fake_slack, ActionId.DISABLE, disable, "maintenance", user=OTHER_ADMIN)
    assert _state(bot) is State.DISABLED

    answer = dispatched.submit_view(first, "billing").json()
    assert answer["response_action"] == "update"
    said = _text(answer["view"])
    assert "Already disabled" in said and f"<@{OTHER_ADMIN}>" in said
    assert [row for row in _audit(bot) if row[1] == "disable"] == [
        (OTHER_ADMIN, "disable", "maintenance")
    ]


def test_a_stale_button_is_answered_without_a_form(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = install_and_wait(dispatched, fake_slack)
    old = buttons(message)
    dispatched.click(ActionId.APPROVE, old[ActionId.APPROVE], message_ts=message["ts"])
    _wait_buttons(fake_slack, {ActionId.DISABLE})
    dispatched.click(ActionId.DISABLE, old[ActionId.DISABLE], message_ts=message["ts"])
    assert fake_slack.wait_for(lambda: len(fake_slack.ephemerals) == 1)
    assert "Already enabled" in _text(fake_slack.ephemerals[0])
    assert not fake_slack.opened
    assert _state(bot) is State.ENABLED


def test_non_admins_get_no_form_and_cannot_submit_one(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = _enabled(dispatched, fake_slack)
    disable = buttons(message)[ActionId.DISABLE]
    dispatched.click(ActionId.DISABLE, disable, user=OUTSIDER, message_ts=message["ts"])
    assert fake_slack.wait_for(lambda: len(fake_slack.ephemerals) == 1)
    assert NOT_ALLOWED in _text(fake_slack.ephemerals[0])
    assert not fake_slack.opened

    dispatched.click(ActionId.DISABLE, disable, message_ts=message["ts"])
    modal = _modal_opened(fake_slack, 0)
    audit_before = _audit(bot)
    answer = dispatched.submit_view(modal, "let me", user=OUTSIDER).json()
    assert answer["response_action"] == "update"
    assert NOT_ALLOWED in _text(answer["view"])
    assert _state(bot) is State.ENABLED
    assert _audit(bot) == audit_before


def test_forged_submission_gets_401(dispatched: Client, fake_slack: FakeSlack, bot: BotApp) -> None:
    message = _enabled(dispatched, fake_slack)
    dispatched.click(ActionId.DISABLE, buttons(message)[ActionId.DISABLE], message_ts=message["ts"])
    modal = _modal_opened(fake_slack, 0)
    assert dispatched.submit_view(modal, "x", secret="forged-secret-0123456789").status == 401
    assert _state(bot) is State.ENABLED


def test_a_reason_from_a_listing_is_answered_in_the_listing(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    _enabled(dispatched, fake_slack)
    listing = dispatched.slash("app homework").json()
    answer = dispatched.decide(
        fake_slack,
        ActionId.DISABLE,
        buttons(listing)[ActionId.DISABLE],
        "maintenance",
        ephemeral=True,
        response_name="listing",
    )
    assert answer.status == 200
    assert _state(bot) is State.DISABLED
    assert fake_slack.wait_for(
        lambda: any(n == "listing" and "Disabled" in _text(b) for n, b in fake_slack.responses)
    )


def _states(bot: BotApp) -> list[State]:
    with bot.db.read() as session:
        query = select(Installation.state).order_by(Installation.id)  # type: ignore[arg-type]
        return list(session.scalars(query))


def test_disable_all_asks_why_once_for_every_application(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    for app_id, name in (("app-homework", "Homework Hub"), ("app-reading", "Reading Rocket")):
        message = install_and_wait(dispatched, fake_slack, app_id=app_id, app_name=name)
        dispatched.click(
            ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"]
        )
    assert fake_slack.wait_for(
        lambda: all(
            set(buttons(m)) == {ActionId.DISABLE} for m in fake_slack.channel_messages(CHANNEL)
        )
    )
    listing = dispatched.slash("customer site-oak").json()
    answer = dispatched.decide(
        fake_slack,
        ActionId.DISABLE_ALL,
        buttons(listing)[ActionId.DISABLE_ALL],
        "school closed for the summer",
        ephemeral=True,
        response_name="all",
    )
    assert answer.status == 200 and not answer.body.strip()
    with bot.db.read() as session:
        states = set(session.scalars(select(Installation.state)))
    assert states == {State.DISABLED}
    reasons = [r for _, action, r in _audit(bot) if action == "disable"]
    assert reasons == ["school closed for the summer"] * 2
    assert fake_slack.wait_for(
        lambda: any(n == "all" and "Disabled 2" in _text(b) for n, b in fake_slack.responses)
    )


def test_a_disable_all_form_changes_only_what_was_enabled_when_it_opened(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    """The form carried only the school: sent after another admin approved a second
    application, it disabled that one too; sent again (a replay, within the signature's
    five minutes) after a re-enable, it disabled it again."""
    first = install_and_wait(dispatched, fake_slack)
    dispatched.click(ActionId.APPROVE, buttons(first)[ActionId.APPROVE], message_ts=first["ts"])
    assert wait_until(lambda: _states(bot) == [State.ENABLED], 10)
    listing = dispatched.slash("customer site-oak").json()
    before = len(fake_slack.opened)
    dispatched.click(ActionId.DISABLE_ALL, buttons(listing)[ActionId.DISABLE_ALL], ephemeral=True)
    assert fake_slack.wait_for(lambda: len(fake_slack.opened) > before)
    form = fake_slack.opened_views()[before]
    # Meanwhile another admin approves a second application of the school.
    second = install_and_wait(dispatched, fake_slack, app_id="app-maths", app_name="Maths Lab")
    dispatched.click(
        ActionId.APPROVE, buttons(second)[ActionId.APPROVE], user=OTHER_ADMIN,
        message_ts=second["ts"],
    )  # fmt: skip
    assert wait_until(lambda: _states(bot) == [State.ENABLED, State.ENABLED], 10)
    assert dispatched.submit_view(form, "maintenance").status == 200
    assert _states(bot) == [State.DISABLED, State.ENABLED]

    # Re-enabled, then the same form sent again: it was drawn at the older version.
    def shown() -> dict[str, str]:
        return buttons(fake_slack.find_message(CHANNEL, first["ts"]) or {})

    assert fake_slack.wait_for(lambda: ActionId.ENABLE in shown())
    enable = shown()[ActionId.ENABLE]
    dispatched.click(ActionId.ENABLE, enable, user=OTHER_ADMIN, message_ts=first["ts"])
    assert wait_until(lambda: _states(bot) == [State.ENABLED, State.ENABLED], 10)
    assert dispatched.submit_view(form, "maintenance").status == 200
    assert _states(bot) == [State.ENABLED, State.ENABLED]
    assert [action for _, action, _ in _audit(bot)].count("disable") == 1


def test_the_reason_goes_into_the_upstream_decision(fake_slack: FakeSlack, sqlite_url: str) -> None:
    settings = make_settings(
        fake_slack,
        sqlite_url,
        simsid_upstream_url="http://127.0.0.1:9/never",
        simsid_upstream_secret="a-long-enough-upstream-secret",
    )
    bot = create_app(settings)
    try:
        with harness.serving(bot, deliver=True) as url:
            dispatched = harness.Client(url, fake_slack.response_url("x").rsplit("/", 1)[0])
            _disabled(dispatched, fake_slack, reason="billing")
        with bot.db.read() as session:
            payloads = list(
                session.scalars(
                    select(OutboxItem.payload)
                    .where(OutboxItem.kind == OutboxKind.UPSTREAM)
                    .order_by(OutboxItem.id)  # type: ignore[arg-type]
                )
            )
        assert [(p["type"], p["reason"]) for p in payloads] == [
            ("installation.enabled", None),
            ("installation.disabled", "billing"),
        ]
    finally:
        bot.delivery.stop()
        bot.db.dispose()


# -- two people for Remove ---------------------------------------------------------------


@pytest.fixture
def two_person(fake_slack: FakeSlack, sqlite_url: str) -> Iterator[tuple[BotApp, Client]]:
    bot = create_app(make_settings(fake_slack, sqlite_url, simsid_remove_approvals=2))
    with harness.serving(bot) as url:
        yield bot, harness.Client(url, fake_slack.response_url("x").rsplit("/", 1)[0])
    bot.delivery.stop()
    bot.db.dispose()


def _requested(dispatched: Client, fs: FakeSlack) -> dict[str, Any]:
    message = _disabled(dispatched, fs)
    answer = dispatched.decide(
        fs, ActionId.REMOVE, buttons(message)[ActionId.REMOVE], "duplicate site"
    )
    assert answer.status == 200 and not answer.body.strip()
    return _wait_buttons(fs, {ActionId.ENABLE, ActionId.CONFIRM_REMOVAL, ActionId.CANCEL_REMOVAL})


def test_remove_with_two_people_is_a_request_another_admin_confirms(
    two_person: tuple[BotApp, Client], fake_slack: FakeSlack
) -> None:
    bot, dispatched = two_person
    message = _requested(dispatched, fake_slack)
    assert _state(bot) is State.DISABLED
    shown = _text(message["blocks"])
    assert f"<@{ADMIN}> asked to remove it: duplicate site" in shown
    assert _audit(bot)[-1] == (ADMIN, "remove_requested", "duplicate site")
    confirm = buttons(message)[ActionId.CONFIRM_REMOVAL]

    # The requester cannot confirm their own request.
    dispatched.click(ActionId.CONFIRM_REMOVAL, confirm, message_ts=message["ts"])
    assert fake_slack.wait_for(lambda: len(fake_slack.ephemerals) == 1)
    assert "another admin must confirm" in _text(fake_slack.ephemerals[0])
    assert _state(bot) is State.DISABLED

    # Another admin's confirmation removes it, with the request's reason.
    dispatched.click(ActionId.CONFIRM_REMOVAL, confirm, user=OTHER_ADMIN, message_ts=message["ts"])
    assert fake_slack.wait_for(lambda: not buttons(_message(fake_slack)))
    assert _state(bot) is State.REMOVED
    actor, action, reason = _audit(bot)[-1]
    assert (actor, action, reason) == (OTHER_ADMIN, "remove", "duplicate site")
    assert len(fake_slack.ephemerals) == 1  # the channel message said it; no extra reply


def test_a_removal_request_can_be_cancelled(
    two_person: tuple[BotApp, Client], fake_slack: FakeSlack
) -> None:
    bot, dispatched = two_person
    message = _requested(dispatched, fake_slack)
    dispatched.click(
        ActionId.CANCEL_REMOVAL,
        buttons(message)[ActionId.CANCEL_REMOVAL],
        user=OTHER_ADMIN,
        message_ts=message["ts"],
    )
    after = _wait_buttons(fake_slack, {ActionId.ENABLE, ActionId.REMOVE})
    assert "asked to remove" not in _text(after["blocks"])
    assert _audit(bot)[-1][:2] == (OTHER_ADMIN, "removal_cancelled")
    # The old Confirm button is out of date now.
    dispatched.click(
        ActionId.CONFIRM_REMOVAL,
        buttons(message)[ActionId.CONFIRM_REMOVAL],
        user=OTHER_ADMIN,
        message_ts=message["ts"],
    )
    assert fake_slack.wait_for(lambda: len(fake_slack.ephemerals) == 1)
    assert _state(bot) is State.DISABLED


def test_any_change_of_state_cancels_a_removal_request(
    two_person: tuple[BotApp, Client], fake_slack: FakeSlack
) -> None:
    bot, dispatched = two_person
    message = _requested(dispatched, fake_slack)
    dispatched.click(
        ActionId.ENABLE,
        buttons(message)[ActionId.ENABLE],
        user=OTHER_ADMIN,
        message_ts=message["ts"],
    )
    after = _wait_buttons(fake_slack, {ActionId.DISABLE})
    assert "asked to remove" not in _text(after["blocks"])
    assert _state(bot) is State.ENABLED
    # Disabled again: Remove starts over, the old request is gone for good.
    dispatched.decide(fake_slack, ActionId.DISABLE, buttons(after)[ActionId.DISABLE], None)
    again = _wait_buttons(fake_slack, {ActionId.ENABLE, ActionId.REMOVE})
    dispatched.click(
        ActionId.CONFIRM_REMOVAL,
        buttons(message)[ActionId.CONFIRM_REMOVAL],
        user=OTHER_ADMIN,
        message_ts=again["ts"],
    )
    assert fake_slack.wait_for(lambda: len(fake_slack.ephemerals) == 1)
    assert _state(bot) is State.DISABLED
    assert "enable" in [action for _, action, _ in _audit(bot)]


def test_a_request_whose_requester_left_the_admins_is_void_not_confirmed(
    two_person: tuple[BotApp, Client], fake_slack: FakeSlack
) -> None:
    """A requester who has left the admin group leaves a void request: a removal takes two
    current admins, so another's confirmation removes nothing, and the message and the
    confirming admin say a fresh request is needed."""
    bot, dispatched = two_person
    message = _disabled(dispatched, fake_slack)
    remove = buttons(message)[ActionId.REMOVE]
    answer = dispatched.decide(
        fake_slack, ActionId.REMOVE, remove, "duplicate site", user=OTHER_ADMIN
    )
    assert answer.status == 200 and not answer.body.strip()
    asked = _wait_buttons(
        fake_slack, {ActionId.ENABLE, ActionId.CONFIRM_REMOVAL, ActionId.CANCEL_REMOVAL}
    )
    fake_slack.usergroups["SADMINS"] = []  # OTHER_ADMIN is no longer an admin

    dispatched.click(
        ActionId.CONFIRM_REMOVAL,
        buttons(asked)[ActionId.CONFIRM_REMOVAL],
        message_ts=asked["ts"],
        response_name="confirm",
    )
    void = _wait_buttons(fake_slack, {ActionId.ENABLE, ActionId.REMOVE})
    assert _state(bot) is State.DISABLED
    shown = _text(void["blocks"])
    assert f"<@{OTHER_ADMIN}> asked to remove it: duplicate site" in shown
    assert "Void" in shown and "no longer a SIMS ID admin" in shown
    assert "A fresh request is needed" in shown
    assert fake_slack.wait_for(lambda: len(fake_slack.ephemerals) == 1)
    told = _text(fake_slack.ephemerals[0])
    assert f"<@{OTHER_ADMIN}>" in told and "void" in told and "fresh request" in told
    actor, action, _ = _audit(bot)[-1]
    assert (actor, action) == (ADMIN, "removal_cancelled")
    with bot.db.read() as session:
        upstream = session.scalars(
            select(OutboxItem).where(OutboxItem.kind == OutboxKind.UPSTREAM)
        ).all()
    assert not [o for o in upstream if (o.payload or {}).get("type") == "installation.removed"]

    # A current admin's fresh request replaces the void one and waits for a second admin.
    dispatched.decide(
        fake_slack, ActionId.REMOVE, buttons(void)[ActionId.REMOVE], "still a duplicate"
    )
    fresh = _wait_buttons(
        fake_slack, {ActionId.ENABLE, ActionId.CONFIRM_REMOVAL, ActionId.CANCEL_REMOVAL}
    )
    assert "Void" not in _text(fresh["blocks"])
    assert f"<@{ADMIN}> asked to remove it: still a duplicate" in _text(fresh["blocks"])
    assert _state(bot) is State.DISABLED


def test_a_confirmation_slack_cannot_check_changes_nothing_and_keeps_the_request(
    two_person: tuple[BotApp, Client], fake_slack: FakeSlack
) -> None:
    """When Slack cannot say whether the requester is still an admin (Admins.still_admin
    is None: its group unreadable, no recent answer to stand in; test_admins
    shows when), the request is neither carried out nor made void on a guess, and the
    confirming admin is told to try again. The bot's Operations, with that answer."""
    bot, dispatched = two_person
    message = _disabled(dispatched, fake_slack)
    dispatched.decide(
        fake_slack, ActionId.REMOVE, buttons(message)[ActionId.REMOVE], "dup", user=OTHER_ADMIN
    )
    _wait_buttons(fake_slack, {ActionId.ENABLE, ActionId.CONFIRM_REMOVAL, ActionId.CANCEL_REMOVAL})
    before = _audit(bot)
    with bot.db.read() as session:
        inst = session.scalars(select(Installation)).one()
    unsure = dataclasses.replace(bot.operations, still_admin=lambda user: None)
    applied, reply = unsure.confirm_removal(
        installation_id=inst.id or 0, version=inst.version, actor=ADMIN
    )
    assert not applied
    assert "cannot say right now" in reply.text and f"<@{OTHER_ADMIN}>" in reply.text
    assert _state(bot) is State.DISABLED and _audit(bot) == before
    with bot.db.read() as session:
        kept = session.scalars(select(Installation)).one()
    assert (kept.version, open_request(kept)) == (inst.version, OTHER_ADMIN)  # not void


def test_one_approval_removes_at_once_with_the_reason(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = _disabled(dispatched, fake_slack)
    dispatched.decide(fake_slack, ActionId.REMOVE, buttons(message)[ActionId.REMOVE], "test school")
    assert fake_slack.wait_for(lambda: not buttons(_message(fake_slack)))
    assert _audit(bot)[-1] == (ADMIN, "remove", "test school")


# -- App Home ---------------------------------------------------------------------------


def _home(fs: FakeSlack, user: str, after: int = 0) -> dict[str, Any]:
    def published() -> bool:
        return (
            sum(1 for m, p in fs.calls if m == "views.publish" and p.get("user_id") == user) > after
        )

    assert fs.wait_for(published), "no Home tab published"
    home = fs.home(user)
    assert home is not None
    return home


def _publishes(fs: FakeSlack, user: str) -> int:
    with fs.lock:
        return sum(1 for m, p in fs.calls if m == "views.publish" and p.get("user_id") == user)


def test_admins_home_tab_is_a_dashboard(dispatched: Client, fake_slack: FakeSlack) -> None:
    _disabled(dispatched, fake_slack, reason="billing")
    install_and_wait(dispatched, fake_slack, site_id="site-elm", site_name="Elm Academy")
    assert dispatched.open_home().status == 200
    home = _home(fake_slack, ADMIN)
    shown = _text(home["blocks"])
    assert home["type"] == "home" and len(home["blocks"]) <= 100
    assert "Homework Hub" in shown and "1 pending" in shown and "1 disabled" in shown
    assert "Elm Academy" in shown and ActionId.APPROVE in buttons(home)
    assert "billing" in shown  # the latest decisions, with their reasons


def test_anyone_else_sees_what_the_bot_is_and_whom_to_ask(
    dispatched: Client, fake_slack: FakeSlack
) -> None:
    install_and_wait(dispatched, fake_slack)
    dispatched.open_home(user=OUTSIDER)
    home = _home(fake_slack, OUTSIDER)
    shown = _text(home["blocks"])
    assert "Oakfield" not in shown and not buttons(home)
    assert f"<@{ADMIN}>" in shown and "<!subteam^SADMINS>" in shown


def test_messages_tab_publishes_nothing(dispatched: Client, fake_slack: FakeSlack) -> None:
    assert dispatched.open_home(tab="messages").status == 200
    dispatched.open_home(user=OTHER_ADMIN)
    _home(fake_slack, OTHER_ADMIN)
    assert _publishes(fake_slack, ADMIN) == 0


def test_buttons_on_the_home_tab_act_and_republish_it(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    install_and_wait(dispatched, fake_slack)
    dispatched.open_home()
    home = _home(fake_slack, ADMIN)
    dispatched.click_home(ActionId.APPROVE, buttons(home)[ActionId.APPROVE])
    home = _home(fake_slack, ADMIN, after=1)
    assert _state(bot) is State.ENABLED
    assert "Approved" in _text(home["blocks"][:3])
    _wait_buttons(fake_slack, {ActionId.DISABLE})  # the channel message follows

    # Disable from the Home tab: the same modal, then the tab again.
    dispatched.open_home()
    home = _home(fake_slack, ADMIN, after=2)
    listing = dispatched.slash("app homework").json()
    dispatched.click_home(ActionId.DISABLE, buttons(listing)[ActionId.DISABLE])
    modal = _modal_opened(fake_slack, 0)
    assert dispatched.submit_view(modal, "billing").status == 200
    home = _home(fake_slack, ADMIN, after=3)
    assert _state(bot) is State.DISABLED
    assert "Disabled" in _text(home["blocks"][:3])

    # A stale click on the Home tab is told on the tab.
    dispatched.click_home(ActionId.APPROVE, buttons(listing)[ActionId.DISABLE])
    home = _home(fake_slack, ADMIN, after=4)
    assert "Approve is not possible" in _text(home["blocks"][:3]) or "Already" in _text(
        home["blocks"][:3]
    )


def test_non_admin_clicking_on_a_home_tab_is_refused_there(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = install_and_wait(dispatched, fake_slack)
    dispatched.click_home(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], user=OUTSIDER)
    home = _home(fake_slack, OUTSIDER)
    assert NOT_ALLOWED in _text(home["blocks"])
    assert _state(bot) is State.PENDING


def test_forged_or_stale_home_events_get_401_and_publish_nothing(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    assert dispatched.open_home(secret="forged-secret-0123456789").status == 401
    assert dispatched.open_home(timestamp=int(time.time()) - 400).status == 401
    harness.listeners_finished(bot)  # anything a listener would publish, it has
    assert _publishes(fake_slack, ADMIN) == 0
