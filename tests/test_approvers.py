"""Approvers per application: they act on their applications' installations and read
their secrets, and are refused on any other with the names of who can act; the admins
(SIMSID_ADMINS) keep every application. Signed requests dispatched in process through the
real app, on SQLite and PostgreSQL, with the Slack stand-in resolving user groups."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.app import BotApp, create_app
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId, encode_site
from store import applications
from store.lifecycle import Action
from store.models import Installation, State
from tests.conftest import make_settings
from tests.faultkit import buttons, install_and_wait, response_texts, wait_until
from tests.harness import ADMIN, CHANNEL, OTHER_ADMIN, OUTSIDER, QUICK_PACE, Client

HW_APPROVER = "UHWAPPROVER"  # approves Homework Hub, by name
PAYER = "UPAYER"  # approves Payments, as a member of the user group SPAYTEAM
PAY_REFUSAL = "Only the approvers of Payments (<!subteam^SPAYTEAM>) or the bot's admins"
HW_REFUSAL = f"Only the approvers of Homework Hub (<@{HW_APPROVER}>) or the bot's admins"


@pytest.fixture
def bot(fake_slack: FakeSlack, db_url: str) -> Iterator[BotApp]:
    fake_slack.usergroups["SPAYTEAM"] = [PAYER]
    settings = make_settings(fake_slack, db_url, simsid_remove_approvals=2)
    app = create_app(settings, timings=QUICK_PACE)
    with app.db.session() as session:
        applications.register(session, app_id="app-homework", name="Homework Hub")
        applications.register(session, app_id="app-payments", name="Payments")
        applications.set_approvers(session, "app-homework", [HW_APPROVER])
        applications.set_approvers(session, "app-payments", ["SPAYTEAM"])
    yield app
    app.delivery.stop()
    app.db.dispose()


def _installed(client: Client, fs: FakeSlack) -> tuple[dict[str, Any], dict[str, Any]]:
    """Homework Hub and Payments installed at Oakfield Primary: their channel messages."""
    homework = install_and_wait(client, fs)
    payments = install_and_wait(client, fs, app_id="app-payments", app_name="Payments")
    return homework, payments


def _state(bot: BotApp, app_id: str) -> State:
    with bot.db.read() as session:
        row = session.exec(select(Installation).where(Installation.application_id == app_id))
        return State(row.one().state)


def _press(client: Client, message: dict[str, Any], action: str, user: str, name: str) -> None:
    answer = client.click(
        action,
        buttons(message)[action],
        user=user,
        message_ts=message["ts"],
        response_name=name,
    )
    assert answer.status == 200, answer.body


def _current(fs: FakeSlack, message: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in fs.channel_messages(CHANNEL) if m["ts"] == message["ts"])


def test_an_approver_acts_on_their_application_and_is_refused_on_another(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    homework, payments = _installed(dispatched, fake_slack)

    _press(dispatched, homework, ActionId.APPROVE, HW_APPROVER, "hw")
    assert wait_until(lambda: _state(bot, "app-homework") is State.ENABLED, timeout=10)

    _press(dispatched, payments, ActionId.APPROVE, HW_APPROVER, "pay")
    assert fake_slack.wait_for(lambda: bool(response_texts(fake_slack, "pay")))
    [told] = response_texts(fake_slack, "pay")
    assert PAY_REFUSAL in json.loads(told)["text"], told
    assert _state(bot, "app-payments") is State.PENDING


def test_a_group_approver_is_resolved_through_the_user_group(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    homework, payments = _installed(dispatched, fake_slack)

    _press(dispatched, payments, ActionId.APPROVE, PAYER, "pay")
    assert wait_until(lambda: _state(bot, "app-payments") is State.ENABLED, timeout=10)

    _press(dispatched, homework, ActionId.APPROVE, PAYER, "hw")
    assert fake_slack.wait_for(lambda: bool(response_texts(fake_slack, "hw")))
    assert HW_REFUSAL in response_texts(fake_slack, "hw")[0]
    assert _state(bot, "app-homework") is State.PENDING


def test_an_approver_sees_only_their_applications_in_listings_and_home(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    _installed(dispatched, fake_slack)

    apps = dispatched.slash("apps", user=HW_APPROVER).body.decode()
    assert "Homework Hub" in apps and "Payments" not in apps
    pending = dispatched.slash("pending", user=HW_APPROVER).body.decode()
    assert "Homework Hub" in pending and "Payments" not in pending
    customers = dispatched.slash("customers", user=HW_APPROVER).body.decode()
    assert "Oakfield Primary" in customers and "Homework Hub" in customers
    assert "Payments" not in customers
    searched = dispatched.slash("customers Oak", user=HW_APPROVER).body.decode()
    assert "Oakfield Primary" in searched and "Payments" not in searched
    customer = dispatched.slash("customer site-oak", user=HW_APPROVER).body.decode()
    assert "Homework Hub" in customer and "Payments" not in customer
    app = dispatched.slash("app Payments", user=HW_APPROVER).body.decode()
    assert PAY_REFUSAL in app and "Oakfield" not in app
    audit = dispatched.slash("audit Payments", user=HW_APPROVER).body.decode()
    assert PAY_REFUSAL in audit

    assert dispatched.open_home(user=HW_APPROVER).status == 200
    assert fake_slack.wait_for(lambda: fake_slack.home(HW_APPROVER) is not None)
    home = json.dumps(fake_slack.home(HW_APPROVER))
    assert "Homework Hub" in home and "Payments" not in home

    # The admins still see everything.
    everything = dispatched.slash("apps", user=ADMIN).body.decode()
    assert "Homework Hub" in everything and "Payments" in everything


def test_an_approver_reads_their_applications_secret_and_not_anothers(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    homework, payments = _installed(dispatched, fake_slack)
    for message in (homework, payments):
        _press(dispatched, message, ActionId.APPROVE, ADMIN, f"approve{message['ts']}")
    assert wait_until(
        lambda: _state(bot, "app-homework") is _state(bot, "app-payments") is State.ENABLED, 10
    )

    mine = dispatched.private_reply(fake_slack, "secret app-homework site-oak", user=HW_APPROVER)
    assert "ck_" in mine
    theirs = dispatched.private_reply(fake_slack, "secret app-payments site-oak", user=HW_APPROVER)
    assert "ck_" not in theirs and PAY_REFUSAL in theirs
    audit = dispatched.slash("audit app-homework", user=HW_APPROVER).body.decode()
    assert "secret" in audit.lower() and HW_APPROVER in audit


def test_disable_all_disables_only_the_applications_the_person_may_act_on(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    homework, payments = _installed(dispatched, fake_slack)
    for message in (homework, payments):
        _press(dispatched, message, ActionId.APPROVE, ADMIN, f"approve{message['ts']}")
    assert wait_until(
        lambda: _state(bot, "app-homework") is _state(bot, "app-payments") is State.ENABLED, 10
    )

    answer = dispatched.decide(
        fake_slack, ActionId.DISABLE_ALL, encode_site("site-oak"), "billing", user=HW_APPROVER
    )
    assert answer.status == 200, answer.body
    assert wait_until(lambda: _state(bot, "app-homework") is State.DISABLED, timeout=10)
    assert _state(bot, "app-payments") is State.ENABLED


def _removal_requested(client: Client, fs: FakeSlack, message: dict[str, Any], user: str) -> None:
    """`user` approves, disables and asks to remove the installation of `message`."""
    _press(client, message, ActionId.APPROVE, user, f"approve-{user}")
    after = {
        ActionId.DISABLE: {ActionId.DISABLE},
        ActionId.REMOVE: {ActionId.ENABLE, ActionId.REMOVE},
    }
    for action, shown in after.items():
        assert fs.wait_for(lambda: set(buttons(_current(fs, message))) == shown)
        answer = client.decide(
            fs,
            action,
            buttons(_current(fs, message))[action],
            "contract ended",
            user=user,
            message_ts=message["ts"],
        )
        assert answer.status == 200, answer.body
    assert fs.wait_for(lambda: ActionId.CONFIRM_REMOVAL in buttons(_current(fs, message)))


def test_a_removal_is_confirmed_only_by_an_approver_of_that_application_or_an_admin(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    _, payments = _installed(dispatched, fake_slack)
    _removal_requested(dispatched, fake_slack, payments, ADMIN)
    request = _current(fake_slack, payments)

    _press(dispatched, request, ActionId.CONFIRM_REMOVAL, HW_APPROVER, "other")
    assert fake_slack.wait_for(lambda: bool(response_texts(fake_slack, "other")))
    assert PAY_REFUSAL in response_texts(fake_slack, "other")[0]
    assert _state(bot, "app-payments") is State.DISABLED

    _press(dispatched, request, ActionId.CONFIRM_REMOVAL, PAYER, "theirs")
    assert wait_until(lambda: _state(bot, "app-payments") is State.REMOVED, timeout=10)


def test_an_approvers_removal_request_stands_while_they_approve_the_application(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    """The requester check at confirmation asks whether the requester may still act on
    this application (not whether they are an admin); once they may not, it is void."""
    _, payments = _installed(dispatched, fake_slack)
    _removal_requested(dispatched, fake_slack, payments, PAYER)
    _press(dispatched, _current(fake_slack, payments), ActionId.CONFIRM_REMOVAL, OTHER_ADMIN, "ok")
    assert wait_until(lambda: _state(bot, "app-payments") is State.REMOVED, timeout=10)


def test_an_approvers_removal_request_is_void_once_they_leave_the_group(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    _, payments = _installed(dispatched, fake_slack)
    _removal_requested(dispatched, fake_slack, payments, PAYER)
    fake_slack.usergroups["SPAYTEAM"] = []  # asked afresh at confirmation, not cached
    _press(dispatched, _current(fake_slack, payments), ActionId.CONFIRM_REMOVAL, ADMIN, "confirm")
    assert fake_slack.wait_for(lambda: bool(response_texts(fake_slack, "confirm")))
    assert _state(bot, "app-payments") is State.DISABLED
    assert fake_slack.wait_for(
        lambda: ActionId.CONFIRM_REMOVAL not in buttons(_current(fake_slack, payments))
    )


def test_someone_who_approves_nothing_is_still_refused_at_the_door(
    dispatched: Client, fake_slack: FakeSlack
) -> None:
    _installed(dispatched, fake_slack)
    answer = dispatched.slash("apps", user=OUTSIDER).body.decode()
    assert "Only SIMS ID admins" in answer and "Homework Hub" not in answer


def test_disable_all_is_offered_only_when_one_of_the_persons_applications_is_enabled(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    _, payments = _installed(dispatched, fake_slack)
    _press(dispatched, payments, ActionId.APPROVE, ADMIN, "approve")
    assert wait_until(lambda: _state(bot, "app-payments") is State.ENABLED, timeout=10)

    theirs = dispatched.slash("customer site-oak", user=PAYER).body.decode()
    assert ActionId.DISABLE_ALL.value in theirs
    mine = dispatched.slash("customer site-oak", user=HW_APPROVER).body.decode()
    assert "Homework Hub" in mine and ActionId.DISABLE_ALL.value not in mine


def test_an_approver_of_another_application_cannot_extend_its_window(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    _installed(dispatched, fake_slack)
    with bot.db.read() as session:
        row = session.exec(
            select(Installation).where(Installation.application_id == "app-payments")
        )
        payments = row.one()
    operations = bot.services.operations
    assert operations.act(
        installation_id=payments.id, version=None, action=Action.APPROVE, actor=ADMIN
    )[0]
    now = operations.lifecycle.clock()
    assert operations.act(
        installation_id=payments.id,
        version=None,
        action=Action.DISABLE,
        actor=PAYER,
        reason="maintenance",
        until=now + timedelta(hours=1),
    )[0]
    version = _version(bot, "app-payments")

    info, refused = operations.window(
        installation_id=payments.id, version=version, actor=HW_APPROVER
    )
    assert info is None and refused is not None and PAY_REFUSAL in refused.text
    moved, reply = operations.extend(
        installation_id=payments.id,
        version=version,
        until=now + timedelta(hours=5),
        actor=HW_APPROVER,
    )
    assert not moved and PAY_REFUSAL in reply.text
    moved, _ = operations.extend(
        installation_id=payments.id, version=version, until=now + timedelta(hours=5), actor=PAYER
    )
    assert moved


def _version(bot: BotApp, app_id: str) -> int:
    with bot.db.read() as session:
        row = session.exec(select(Installation).where(Installation.application_id == app_id))
        return row.one().version


def test_deciding_from_a_list_is_for_the_applications_approvers(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    _installed(dispatched, fake_slack)

    answer = dispatched.slash("approve Payments", user=HW_APPROVER, response_name="hw-list")
    assert answer.status == 200
    assert wait_until(
        lambda: PAY_REFUSAL in " ".join(response_texts(fake_slack, "hw-list")), timeout=10
    )
    assert fake_slack.opened_views() == []

    answer = dispatched.slash("approve Payments", user=PAYER, response_name="pay-list")
    assert answer.status == 200
    assert wait_until(lambda: len(fake_slack.opened_views()) == 1, timeout=10)
